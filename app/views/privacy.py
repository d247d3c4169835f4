"""Personal data on the player page: masked fields with an audited reveal, and GDPR export/erasure."""

from __future__ import annotations

import io

import panel as pn
import param

from app.state.player import PlayerState
from app.views.common import esc, html_pane, live_html

FIELDS = {"Name": "first_name", "Last name": "last_name", "Date of birth": "date_of_birth", "E-mail": "email",
          "Phone": "phone", "Address": "address"}


class PrivacyView(pn.viewable.Viewer):
    """For masked roles: a pseudonym and an explicit reveal; for GDPR roles: export and erase."""

    player = param.ClassSelector(class_=PlayerState, doc="The open player.")

    def __init__(self, **params):
        super().__init__(**params)
        self._field = pn.widgets.Select(options=FIELDS, width=140, css_classes=["reveal-field"])
        self._reveal = pn.widgets.Button(label="Reveal (audited)", css_classes=["reveal"], width=140)
        self._reveal.on_click(lambda _e: self.player.reveal(self._field.value))
        self._json = pn.widgets.FileDownload(callback=lambda: io.BytesIO(self.player.gdpr_export("json")),
                                             filename="player-gdpr.json", label="GDPR export (JSON)",
                                             css_classes=["gdpr-json"], width=170)
        self._csv = pn.widgets.FileDownload(callback=lambda: io.BytesIO(self.player.gdpr_export("csv")),
                                            filename="player-gdpr.zip", label="GDPR export (CSV zip)",
                                            css_classes=["gdpr-csv"], width=170)
        self._reason = pn.widgets.TextInput(placeholder="Erasure request reference (required)", width=260,
                                            css_classes=["erase-reason"])
        self._erase = pn.widgets.Button(label="Erase personal data", color="danger", css_classes=["erase"],
                                        width=170)
        self._erase.on_click(lambda _e: self.player.erase(self._reason.value))

    def _revealed(self) -> str:
        s = self.player.snapshot
        if s is None or not s.found:
            return ""
        shown = [(f, v) for (pid, f), v in self.player.session.revealed.items() if pid == s.player_id]
        items = "".join(f"<div>{esc(f.replace('_', ' '))}: <b>{esc(v if v is not None else '(empty)')}</b></div>"
                        for f, v in shown)
        return (f'<div class="muted">Personal data is masked for your role; this player is '
                f'<b>{esc((s.profile or {}).get("pseudonym", ""))}</b>.</div>{items}')

    def __panel__(self) -> pn.viewable.Viewable:
        parts = []
        if self.player.masked():
            parts += [live_html(self._revealed, [(self.player, ["snapshot", "message"])], ["masked-note"]),
                      pn.Row(self._field, self._reveal)]
        if self.player.session.can("gdpr"):
            parts += [html_pane("<h3>GDPR</h3>"), pn.Row(self._json, self._csv), pn.Row(self._reason, self._erase)]
        return pn.Column(*parts, sizing_mode="stretch_width", css_classes=["privacy"], visible=bool(parts))
