"""The member list of a segment: filters, a Tabulator of the page shown (filtered, sorted and paged
on the server), click-through to the player's 360 page, streamed exports and bulk tagging."""

from __future__ import annotations

import io
from collections.abc import Callable

import panel as pn
import param
import polars as pl

from app.export_segments import FORMATS
from app.state.segment_members import SORTABLE, MemberListState
from app.views.common import esc, live_html
from app.views.segments import AfterCounts

HEADERS = {"player_id": "Id", "name": "Name", "segment": "Segment", "lifecycle_live": "Lifecycle", "tier": "Tier",
           "favourite_game": "Favourite game", "preferred_property": "Favourite venue", "properties": "Properties",
           "tags": "Tags", "visits_total": "Visits", "recency_days": "Days since seen", "theo_total": "Theo",
           "cash_in_total": "Cash in", "lifetime_value": "Lifetime value"}
MONEY = ("theo_total", "cash_in_total", "lifetime_value")


def display(page: pl.DataFrame) -> pl.DataFrame:
    """Page rows as Tabulator text and numbers (lists joined, labels as text, headers renamed)."""
    if page.is_empty():
        return pl.DataFrame({label: [] for label in HEADERS.values()})
    out = page.with_columns(
        [pl.col(c).list.join(", ") for c in ("properties", "tags") if c in page.columns]
        + [pl.col(c).cast(pl.String) for c in ("segment", "lifecycle_live") if c in page.columns]
        + [pl.col(c).round(0) for c in MONEY if c in page.columns])
    return out.rename({c: HEADERS[c] for c in out.columns if c in HEADERS})


class MemberListView(pn.viewable.Viewer):
    """Filters, one page of members, pager, exports and bulk tag."""

    members = param.ClassSelector(class_=MemberListState, doc="The member list state.")
    open_player = param.Callable(default=None, allow_None=True, doc="Opens a player's 360 page by id.")

    def __init__(self, **params):
        super().__init__(**params)
        m = self.members
        choice = dict(sizing_mode="stretch_width", max_items=None)
        self._segment = pn.widgets.Select(label="Segment", css_classes=["members-segment"], width=160)
        self._filters = [
            pn.widgets.MultiChoice.from_param(m.param.tiers, label="Tier", **choice),
            pn.widgets.MultiChoice.from_param(m.param.lifecycle, label="Lifecycle", **choice),
            pn.widgets.MultiChoice.from_param(m.param.games, label="Favourite game", **choice),
            pn.widgets.MultiChoice.from_param(m.param.venues, label="Favourite venue", **choice),
            pn.widgets.MultiChoice.from_param(m.param.properties, label="Property", **choice),
            pn.widgets.MultiChoice.from_param(m.param.tags, label="Tags", css_classes=["members-tags"], **choice),
        ]
        self._text = pn.widgets.TextInput.from_param(m.param.text, label="Id or name contains",
                                                     css_classes=["members-text"])
        self._sort = pn.widgets.Select(label="Sort by", options={v: k for k, v in SORTABLE.items()},
                                       value=m.sort_by, width=170)
        self._desc = pn.widgets.Checkbox.from_param(m.param.descending, label="Largest first")
        self._size = pn.widgets.Select.from_param(m.param.page_size, label="Per page", width=90)
        self._prev = pn.widgets.Button(label="‹ Previous", css_classes=["members-prev"], width=100)
        self._next = pn.widgets.Button(label="Next ›", css_classes=["members-next"], width=100)
        self._clear = pn.widgets.Button(label="Clear filters", width=110)
        self._table = pn.widgets.Tabulator(display(pl.DataFrame()).to_pandas(), disabled=True, show_index=False, selectable=False,
                                           sizing_mode="stretch_width", layout="fit_data_stretch", height=420,
                                           css_classes=["members-table"], header_filters=False,
                                           formatters={h: {"type": "plaintext"} for h in HEADERS.values()},
                                           # a header click would sort the page shown only: the list is
                                           # sorted on the server by the "Sort by" control
                                           configuration={"columnDefaults": {"headerSort": False}})
        self._ids: list[str] = []
        self._downloads = [pn.widgets.FileDownload(callback=self._file(fmt), filename=f"segment.{fmt}",
                                                   label=label, color="light", width=110,
                                                   css_classes=[f"export-segment-{fmt}"], disabled=not m.can_export())
                           for fmt, label in FORMATS.items()]
        self._tag = pn.widgets.TextInput(label="Tag everyone listed", placeholder="e.g. Winter mailer",
                                         css_classes=["bulk-tag-input"], max_length=40)
        self._tag_button = pn.widgets.Button(label="Tag all", color="primary", css_classes=["bulk-tag"],
                                             disabled=not m.can_tag(), align="end")
        self._segment.param.watch(lambda e: setattr(m, "segment", e.new or ""), "value")
        self._sort.param.watch(lambda e: setattr(m, "sort_by", e.new), "value")
        self._prev.on_click(lambda _e: m.previous_page())
        self._next.on_click(lambda _e: m.next_page())
        self._clear.on_click(lambda _e: m.clear())
        self._tag_button.on_click(self._on_tag)
        self._table.on_click(self._on_click)
        m.param.watch(self._refresh, ["page", "page_size", "sort_by", "descending", "segment", "tiers", "lifecycle",
                                      "games", "venues", "properties", "tags", "text"])
        m.segments.param.watch(AfterCounts(self._refresh, prepare=m.page_rows), ["revision", "as_of", "scheme"])
        m.segments.param.watch(self._segment_options, ["scheme"])
        self._segment_options()
        self._refresh()

    def _segment_options(self, *_events) -> None:
        """The segment picker lists the labels of the scheme shown (a side effect)."""
        labels = list(self.members.segments.current.labels)
        self._segment.options = {"everyone": "", **{label: label for label in labels}}
        self._segment.value = self.members.segment if self.members.segment in labels else ""

    def _refresh(self, *_events) -> None:
        """Show the page the state asks for (a side effect of any filter, sort or page change)."""
        page = self.members.page_rows()
        self._ids = page["player_id"].to_list() if page.height else []
        self._table.value = display(page).to_pandas()
        names = f"{self.members.segments.scheme}-{self.members.segment or 'all'}"
        for widget, fmt in zip(self._downloads, FORMATS, strict=True):
            widget.filename = f"{names}.{fmt}"

    def _on_click(self, event) -> None:
        if self.open_player is not None and event.row is not None and event.row < len(self._ids):
            self.open_player(self._ids[event.row])

    def _on_tag(self, _event) -> None:
        if self.members.bulk_tag(self._tag.value):
            self._tag.value = ""
            self._refresh()

    def _file(self, fmt: str) -> Callable[[], io.BytesIO]:
        """A FileDownload callback: stream the filtered list into a temporary file and hand over its
        bytes. The file is deleted at once: it holds contact details, and a served session has no
        reliable end at which to delete it later (FileDownload sends the whole file in one message,
        so holding its bytes costs no more than sending a path would)."""
        def build() -> io.BytesIO:
            path, _rows = self.members.export(fmt)
            try:
                return io.BytesIO(path.read_bytes())
            finally:
                path.unlink(missing_ok=True)
        return build

    def _status(self) -> str:
        m = self.members
        return (f'<span class="members-status">{m.total:,} players · page {min(m.page, m.pages)} of {m.pages}</span>'
                + (f' · <span class="members-message">{esc(m.message)}</span>' if m.message else ""))

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.members
        status = live_html(self._status, [(m, ["page", "page_size", "segment", "tiers", "lifecycle", "games", "venues",
                                              "properties", "tags", "text", "message"])], ["members-info"])
        m.segments.param.watch(AfterCounts(lambda: status.param.update(object=f'<div class="p360">{self._status()}</div>'),
                                           prepare=lambda: m.total), ["revision", "as_of", "scheme"])
        return pn.Column(
            pn.Row(self._segment, self._text, self._sort, self._desc, self._size, self._clear,
                   sizing_mode="stretch_width"),
            pn.GridBox(*self._filters, ncols=3, sizing_mode="stretch_width"),
            pn.Row(self._prev, self._next, status, sizing_mode="stretch_width"),
            self._table,
            pn.pane.HTML('<span style="color:#5f6b7a;font-size:12px">Click a row to open the player. '
                         "Export or tag applies to everyone listed (all pages).</span>"),
            pn.Row(pn.pane.HTML('<span style="color:#5f6b7a;font-size:12px">Export</span>', align="center"),
                   *self._downloads, self._tag, self._tag_button, sizing_mode="stretch_width"),
            sizing_mode="stretch_width", css_classes=["segment-members"])
