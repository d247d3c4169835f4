"""A view of what the store holds: counts per table and events per source."""

from __future__ import annotations

import panel as pn
import param

from app.data import DataStore


class StoreStatusView(pn.viewable.Viewer):
    """Counts per table, events per source and the newest batches."""

    data = param.ClassSelector(class_=DataStore, doc="The cached data store the view reads.")
    refresh = param.Event(doc="Read the store again.")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._counts, self._sources, self._batches, sizing_mode="stretch_width")

    @param.depends("refresh")
    def _counts(self) -> pn.viewable.Viewable:
        status = self.data.status(refresh=True)
        if not status.available:
            return pn.pane.Alert(status.message, alert_type="warning", css_classes=["empty-state"])
        cards = [
            pn.indicators.Number(name=name.replace("_", " "), value=value, format="{value:,}",
                                 font_size="28pt", title_size="11pt", css_classes=[f"count-{name}"])
            for name, value in status.counts.items() if name != "schema_version"
        ]
        return pn.FlexBox(*cards)

    @param.depends("refresh")
    def _sources(self) -> pn.viewable.Viewable:
        status = self.data.status()
        if not status.available or status.by_source.is_empty():
            return pn.pane.Markdown("No events yet.")
        return pn.Column(
            pn.pane.Markdown("### Events per source"),
            pn.widgets.Tabulator(status.by_source.to_pandas(), disabled=True, show_index=False,
                                 sizing_mode="stretch_width", css_classes=["by-source"]),
        )

    @param.depends("refresh")
    def _batches(self) -> pn.viewable.Viewable:
        status = self.data.status()
        if not status.available or status.batches.is_empty():
            return pn.pane.Markdown("")
        cols = ["batch_id", "source", "file_name", "status", "rows_read", "events_added",
                "duplicates", "rejected", "started_at"]
        return pn.Column(
            pn.pane.Markdown("### Recent ingest batches"),
            pn.widgets.Tabulator(status.batches.select(cols).to_pandas(), disabled=True,
                                 show_index=False, sizing_mode="stretch_width"),
        )
