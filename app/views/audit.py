"""The audit log: filters, a table of entries (text only) and a CSV export."""

from __future__ import annotations

import io

import panel as pn
import param

from app.state.audit import AuditState
from app.views.common import html_pane


class AuditLogView(pn.viewable.Viewer):
    """Filter, read and export the audit log."""

    audit = param.ClassSelector(class_=AuditState, doc="The audit filters.")

    def __init__(self, **params):
        super().__init__(**params)
        self._action = pn.widgets.TextInput.from_param(self.audit.param.action, name="Action starts with",
                                                        css_classes=["audit-action"], width=180)
        self._actor = pn.widgets.TextInput.from_param(self.audit.param.actor, name="Actor", width=150)
        self._player = pn.widgets.TextInput.from_param(self.audit.param.player_id, name="Player id", width=150)
        self._refresh = pn.widgets.Button(label="Refresh", css_classes=["audit-refresh"])
        self._refresh.on_click(lambda _e: self.audit.param.trigger("refresh"))
        self._export = pn.widgets.FileDownload(callback=lambda: io.BytesIO(self.audit.export_csv()),
                                               filename="audit-log.csv", label="Export CSV",
                                               css_classes=["audit-export"], width=130,
                                               visible=self.audit.session.can("export_audit"))

    @param.depends("audit.entries")
    def _table(self) -> pn.viewable.Viewable:
        frame = self.audit.entries()
        if frame.is_empty():
            return html_pane('<div class="empty">No audit entries match.</div>', ["audit-empty"])
        # Tabulator shows cell values as text (no HTML formatter): logged user input stays inert
        return pn.widgets.Tabulator(frame.to_pandas(), disabled=True, show_index=False, pagination="local",
                                    page_size=25, sizing_mode="stretch_width", css_classes=["audit-table"])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.Row(self._action, self._actor, self._player, self._refresh, self._export),
                         self._table, sizing_mode="stretch_width")
