"""Player search and the session's recently viewed players."""

from __future__ import annotations

import panel as pn
import param

from app.state.player import PlayerSearch, PlayerState
from app.views.common import empty, esc, html_pane, later


class PlayerSearchView(pn.viewable.Viewer):
    """A search box with clickable results; choosing one opens the player."""

    search = param.ClassSelector(class_=PlayerSearch, doc="The search state (query, results).")
    player = param.ClassSelector(class_=PlayerState, doc="The player state a chosen result opens.")

    def __init__(self, **params):
        super().__init__(**params)
        self._input = pn.widgets.TextInput(
            placeholder="Search name, player id, card, e-mail or phone", sizing_mode="stretch_width",
            css_classes=["player-search"], value=self.search.query)
        self._input.param.watch(self._typed, "value_input")
        self._input.param.watch(self._entered, "enter_pressed")

    def _typed(self, event: param.parameterized.Event) -> None:
        self.search.query = event.new or ""

    def _entered(self, _event: param.parameterized.Event) -> None:
        """Enter opens the first result."""
        self.search.query = self._input.value_input or self._input.value or ""
        found = self.search.results()
        if found.height:
            self._open(found["player_id"][0])

    def _open(self, player_id: str) -> None:
        self.player.open(player_id)

    @param.depends("search.query")
    def _results(self) -> pn.viewable.Viewable:
        found = self.search.results()
        message = html_pane(f'<span class="muted">{esc(self.search.message())}</span>', ["search-message"])
        if found.is_empty():
            return message
        buttons = []
        for r in found.iter_rows(named=True):
            label = (f"{r['first_name'] or ''} {r['last_name'] or ''} · {r['player_id']} · "
                     f"{r['tier'] or 'no tier'} · {r['properties'] or ''}")
            button = pn.widgets.Button(label=label, color="light", sizing_mode="stretch_width",
                                       css_classes=["search-result"], align="start")
            button.on_click(lambda _e, pid=r["player_id"]: later(lambda: self._open(pid)))
            buttons.append(button)
        return pn.Column(message, *buttons, sizing_mode="stretch_width", css_classes=["search-results"])

    @param.depends("player.recent")
    def _recent(self) -> pn.viewable.Viewable:
        if not self.player.recent:
            return empty("No players viewed yet in this session.", "recent-empty")
        buttons = []
        for r in self.player.recent:
            b = pn.widgets.Button(label=f"{r['name']} · {r['player_id']}", color="light",
                                  css_classes=["recent-player"], sizing_mode="stretch_width")
            b.on_click(lambda _e, pid=r["player_id"]: later(lambda: self._open(pid)))
            buttons.append(b)
        return pn.Column(*buttons, sizing_mode="stretch_width", css_classes=["recent-players"])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self._input, self._results,
            pn.pane.HTML('<span style="font-size:12px;color:#5f6b7a">Recently viewed</span>', margin=(8, 10, 0, 10)),
            self._recent, sizing_mode="stretch_width", css_classes=["player-search-panel"])
