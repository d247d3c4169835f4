"""Player 360 page: search, header and insights, metrics | timeline | collaboration, activity tabs."""

from __future__ import annotations

import panel as pn
import param

from app.state.player import PlayerSearch, PlayerState
from app.state.shift import ShiftState
from app.state.wallet import WalletState
from app.views.activity import ActivityTabsView
from app.views.collaboration import CollaborationView
from app.views.common import deferred
from app.views.export import ExportView
from app.views.header import PlayerHeaderView
from app.views.metrics import KeyMetricsView
from app.views.privacy import PrivacyView
from app.views.search import PlayerSearchView
from app.views.shift import PlayerShiftLens
from app.views.timeline import TimelineView
from app.views.wallet import WalletView


class PlayerPage(pn.viewable.Viewer):
    """One player, seen whole."""

    player = param.ClassSelector(class_=PlayerState, doc="The open player.")
    search = param.ClassSelector(class_=PlayerSearch, doc="The search box state.")

    def __panel__(self) -> pn.viewable.Viewable:
        p = self.player
        lens = PlayerShiftLens(player=p, shift=ShiftState(data=p.data, session=p.session))
        # the search and the header go out with the page; the body is built just after (`deferred`),
        # while the browser loads its scripts, and is in the document before the browser asks for it
        body = deferred(lambda: pn.Column(
            pn.Row(pn.Column(KeyMetricsView(player=p), width=360),
                   pn.Column(TimelineView(player=p), sizing_mode="stretch_width", min_width=420),
                   pn.Column(CollaborationView(player=p), width=340),
                   sizing_mode="stretch_width"),
            WalletView(wallet=WalletState(player=p)),
            ActivityTabsView(player=p),
            pn.Row(ExportView(player=p), PrivacyView(player=p), sizing_mode="stretch_width"),
            sizing_mode="stretch_width"),
            visible=pn.bind(lambda snap: bool(snap and snap.found), p.param.snapshot))
        return pn.Column(
            pn.Row(pn.Column(PlayerSearchView(search=self.search, player=p), width=380),
                   pn.Column(PlayerHeaderView(player=p), lens, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            body, sizing_mode="stretch_width", css_classes=["page-player"])
