"""The served app (`panel serve app/main.py`, or `player360 serve`): a navigation shell over pages.

Per session: one `Session` (user and role), the page state, the player, search, shift and overview
states; every session shares the process-wide `DataStore`. The URL carries the open page, player
and shift (`?page=player&player=PL0000001`, `?page=shift&property=P01&day=2026-01-01&shift=swing`).
"""

from __future__ import annotations

import html

import panel as pn

from app.data import DataStore
from app.pages.cohorts import CohortsPage
from app.pages.overview import OverviewPage
from app.pages.player import PlayerPage
from app.pages.segments import SegmentsPage
from app.pages.shift import ShiftPage
from app.state import PAGES, AppState, OverviewState, PlayerSearch, PlayerState, Session, ShiftState
from app.state.cohorts import CohortState
from app.state.segments import SegmentsState

pn.extension("tabulator", notifications=False)


def app() -> pn.template.FastListTemplate:
    """The navigation shell of one session."""
    data = DataStore.shared()
    session = Session.from_login(pn.state.user, pn.state.user_info)
    shell = AppState()
    player = PlayerState(data=data, session=session)
    search = PlayerSearch(data=data)
    shift = ShiftState(data=data)
    overview = OverviewState(data=data)

    def open_player(player_id: str) -> None:
        player.open(player_id)
        shell.go("player")

    builders = {
        "overview": lambda: OverviewPage(overview=overview),
        "player": lambda: PlayerPage(player=player, search=search),
        "shift": lambda: ShiftPage(shift=shift, open_player=open_player),
        # scope None: every property, until the access layer gives the session's properties
        "segments": lambda: SegmentsPage(segments=SegmentsState(data=data, session=session, scope=None),
                                         open_player=open_player),
        "cohorts": lambda: CohortsPage(cohorts=CohortState(data=data, scope=None)),
    }
    built: dict[str, pn.viewable.Viewable] = {}
    container = pn.Column(sizing_mode="stretch_width")
    nav = pn.widgets.RadioButtonGroup(options={label: key for key, label in PAGES.items()}, value=shell.page,
                                      orientation="vertical", color="primary", variant="outline",
                                      sizing_mode="stretch_width", css_classes=["nav"])

    def show(*_events) -> None:
        if shell.page not in built:
            built[shell.page] = pn.panel(builders[shell.page]())
        container.objects = [built[shell.page]]
        nav.value = shell.page

    nav.param.watch(lambda e: shell.go(e.new), "value")
    shell.param.watch(show, "page")
    player.param.watch(lambda e: shell.go("player") if e.new else None, "player_id")
    if pn.state.location is not None:
        # the player first: a deep link ?player=ID alone opens the player page
        pn.state.location.sync(player, {"player_id": "player"})
        pn.state.location.sync(shell, {"page": "page"})
        pn.state.location.sync(shift, {"property_id": "property", "day": "day", "shift": "shift"})
    show()
    who = html.escape(f"Signed in as {session.user} ({session.role})")
    return pn.template.FastListTemplate(
        title="Player 360", sidebar=[nav, pn.pane.HTML(f'<div style="color:#5f6b7a;font-size:12px">{who}</div>')],
        main=[container], sidebar_width=210, accent="#2f5d8a", main_layout=None)


app().servable()
