"""Audit log page (admin and compliance)."""

from __future__ import annotations

import panel as pn
import param

from app.state.audit import AuditState
from app.views.audit import AuditLogView
from app.views.common import html_pane


class AuditPage(pn.viewable.Viewer):
    """Who did what, when, under which role: every write, export, reveal and sign-in."""

    audit = param.ClassSelector(class_=AuditState, doc="The audit filters.")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(html_pane("<h2>Audit log</h2><div class='muted'>Append-only: every write, export, "
                                   "reveal, merge, scheme version, user change and sign-in.</div>"),
                         AuditLogView(audit=self.audit), sizing_mode="stretch_width", css_classes=["page-audit"])
