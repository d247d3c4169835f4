"""Session state as Param objects: no Panel import, so notebooks reuse them as they are."""

from app.state.overview import OverviewState
from app.state.player import PlayerSearch, PlayerState, TimelineState
from app.state.session import Session
from app.state.shell import PAGES, AppState
from app.state.shift import ShiftState

__all__ = ["PAGES", "AppState", "OverviewState", "PlayerSearch", "PlayerState", "Session", "ShiftState",
           "TimelineState"]
