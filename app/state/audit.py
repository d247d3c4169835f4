"""Audit log state: filters over the append-only audit log, and its audited export (no Panel here)."""

from __future__ import annotations

import param
import polars as pl

from app.data import DataStore, DataUnavailable
from app.state.session import Session
from pipelines.audit import audit_entries


class AuditState(param.Parameterized):
    """Which audit entries to show; only roles allowed to read the log see any."""

    data = param.ClassSelector(class_=DataStore, doc="The data store the log is read from.")
    session = param.ClassSelector(class_=Session, default=Session(), instantiate=True,
                                  doc="The signed-in user (admin or compliance to see entries).")
    action = param.String(default="", doc="Only actions starting with this text (e.g. 'export', 'gdpr.').")
    actor = param.String(default="", doc="Only entries by this user.")
    player_id = param.String(default="", doc="Only entries about this player.")
    limit = param.Integer(default=200, bounds=(1, 10_000), doc="Newest entries shown.")
    refresh = param.Event(doc="Read the log again.")

    @param.depends("action", "actor", "player_id", "limit", "refresh")
    def entries(self) -> pl.DataFrame:
        """Matching entries, newest first (empty for a user who may not read the log)."""
        if not self.session.can("view_audit"):
            return pl.DataFrame()
        try:
            with self.data.access(self.session.principal) as acc:
                return audit_entries(acc, action=self.action.strip() or None, actor=self.actor.strip() or None,
                                     player_id=self.player_id.strip() or None, limit=self.limit)
        except DataUnavailable:
            return pl.DataFrame()

    def export_csv(self) -> bytes:
        """Every matching entry as CSV; the export itself is audited."""
        self.session.principal.require("export_audit")
        with self.data.access(self.session.principal) as acc:
            frame = audit_entries(acc, action=self.action.strip() or None, actor=self.actor.strip() or None,
                                  player_id=self.player_id.strip() or None, limit=None)
            acc.audit("export.audit", target_kind="audit_log",
                      after={"rows": frame.height, "action": self.action, "actor": self.actor,
                             "player_id": self.player_id})
        return frame.write_csv().encode()
