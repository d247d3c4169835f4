"""The served app (`player360 serve`: `panel serve app/main.py --auth-module app/auth.py`).

Per session: the signed-in user's `Session` (role and property scope read from the store), the
page state, the player, search, shift, overview and audit states; every session shares the
process-wide `DataStore`, and every read goes through the access layer with the session's
principal. The navigation offers only the pages the user's role may view. The URL carries the open
page, player and shift (`?page=player&player=PL0000001`, `?page=shift&property=P01&day=...`).
"""

from __future__ import annotations

import html
import logging
import os

import panel as pn
from bokeh.settings import settings as bokeh_settings

from app import bokeh_patch, panel_patch
from app.data import DataStore, DataUnavailable
from app.pages.audit import AuditPage
from app.pages.cohorts import CohortsPage
from app.pages.overview import OverviewPage
from app.pages.player import PlayerPage
from app.pages.rewards import RewardsPage
from app.pages.segments import SegmentsPage
from app.pages.shift import ShiftPage
from app.state import PAGES, AppState, OverviewState, PlayerSearch, PlayerState, Session, ShiftState
from app.state.audit import AuditState
from app.state.cohorts import CohortState
from app.state.rewards import RewardsState
from app.state.segments import SegmentsState

pn.extension("tabulator", notifications=False)
# Bokeh computed every unset property's default to serialise a document (app/bokeh_patch.py), and
# Panel resolved its theme's stylesheet path on every read (app/panel_patch.py)
bokeh_patch.apply()
panel_patch.apply()
if "BOKEH_PERFORM_ERROR_DIAGNOSTICS" not in os.environ:
    # Bokeh's documented switch: it checks each callback's signature (inspect.signature) on every
    # on_change, which Panel calls for every model it makes: about 4% of a page load's server CPU
    bokeh_settings.perform_error_diagnostics.set_value(False)
# the app's own INFO lines (e.g. each player open's server time) in the server log
logging.getLogger("player360").setLevel(logging.INFO)


def _session(data: DataStore) -> Session:
    """The signed-in user's session (a session that sees nothing when the user is unknown)."""
    try:
        return Session.for_user(data.user(pn.state.user))
    except DataUnavailable:
        return Session()


def app() -> pn.template.VanillaTemplate:
    """The navigation shell of one session."""
    data = DataStore.shared()
    session = _session(data)
    allowed = [p for p in PAGES if session.may_view(p)]
    shell = AppState(allowed=allowed or ["overview"])
    player = PlayerState(data=data, session=session)
    search = PlayerSearch(data=data, session=session)
    shift = ShiftState(data=data, session=session)
    overview = OverviewState(data=data, session=session)
    audit = AuditState(data=data, session=session)
    rewards = RewardsState(data=data, session=session)

    def open_player(player_id: str) -> None:
        player.open(player_id)
        shell.go("player")

    builders = {
        "overview": lambda: OverviewPage(overview=overview),
        "player": lambda: PlayerPage(player=player, search=search),
        "shift": lambda: ShiftPage(shift=shift, open_player=open_player),
        "audit": lambda: AuditPage(audit=audit),
        "segments": lambda: SegmentsPage(segments=SegmentsState(data=data, session=session), open_player=open_player),
        "cohorts": lambda: CohortsPage(cohorts=CohortState(data=data, session=session)),
        "rewards": lambda: RewardsPage(rewards=rewards),
    }
    built: dict[str, pn.viewable.Viewable] = {}
    container = pn.Column(sizing_mode="stretch_width")
    nav = pn.widgets.RadioButtonGroup(options={PAGES[k]: k for k in shell.allowed}, value=shell.page,
                                      orientation="vertical", color="primary", variant="outline",
                                      sizing_mode="stretch_width", css_classes=["nav"])

    def show(*_events) -> None:
        if not session.signed_in:
            container.objects = [pn.pane.Alert("Your account is not known to this store: sign in again.",
                                               alert_type="danger", css_classes=["signed-out"])]
            return
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
    scope = "all properties" if session.all_properties else ", ".join(session.properties) or "no property"
    who = html.escape(f"Signed in as {session.user or '?'} ({session.role}; {scope})")
    account = pn.pane.HTML(f'<div class="whoami" style="color:#5f6b7a;font-size:12px">{who}<br>'
                           '<a href="/logout" class="logout">Sign out</a></div>')
    # the plain template: FastListTemplate's design system cost about 0.1 s of server CPU and 0.1-0.2 s
    # of browser work per page load (measured at 1M players, benchmarks/bench_app.py)
    # no busy indicator: Panel's busy state is one for the whole process, so every open session's
    # spinner turned with any other session's work, and each turn updated every session's indicator
    # (7% of the server's event loop over 12 page loads, py-spy); slow parts say "Reading…" instead
    return pn.template.VanillaTemplate(
        title="Player 360", sidebar=[nav, account], main=[container], sidebar_width=210,
        header_background="#2f5d8a", busy_indicator=None)


app().servable()
