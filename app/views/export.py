"""Export the open player's data: CSV (timeline) and Excel (every section)."""

from __future__ import annotations

import io

import panel as pn
import param

from app.state.player import PlayerState


class ExportView(pn.viewable.Viewer):
    """Two download buttons; files are built when clicked."""

    player = param.ClassSelector(class_=PlayerState, doc="The open player.")

    def __init__(self, **params):
        super().__init__(**params)
        self._csv = pn.widgets.FileDownload(callback=self._csv_file, filename="player.csv", label="CSV",
                                            color="light", css_classes=["export-csv"], width=110)
        self._xlsx = pn.widgets.FileDownload(callback=self._xlsx_file, filename="player.xlsx", label="Excel",
                                             color="light", css_classes=["export-xlsx"], width=110)
        self.player.param.watch(self._names, "snapshot")
        self._names()

    def _names(self, *_events) -> None:
        """File names follow the open player (a side effect)."""
        s = self.player.snapshot
        pid = s.player_id if s and s.found else "player"
        self._csv.filename, self._xlsx.filename = f"{pid}-timeline.csv", f"{pid}.xlsx"
        self._csv.disabled = self._xlsx.disabled = not self.player.found

    def _csv_file(self) -> io.BytesIO:
        return io.BytesIO(self.player.export_file("csv"))

    def _xlsx_file(self) -> io.BytesIO:
        return io.BytesIO(self.player.export_file("xlsx"))

    def __panel__(self) -> pn.viewable.Viewable:
        if not self.player.session.can("export_player"):
            return pn.Row(css_classes=["export"], visible=False)
        return pn.Row(pn.pane.HTML('<span style="color:#5f6b7a;font-size:12px">Export</span>', align="center"),
                      self._csv, self._xlsx, css_classes=["export"])
