"""The served app (`panel serve app/main.py`): pages compose views."""

from __future__ import annotations

import panel as pn

from app.data import DataStore
from app.views.status import StoreStatusView

pn.extension("tabulator")


def page() -> pn.template.FastListTemplate:
    """The overview page: what the store holds."""
    data = DataStore()
    status = StoreStatusView(data=data)
    button = pn.widgets.Button(name="Refresh", button_type="primary")
    button.on_click(lambda _: status.param.trigger("refresh"))
    return pn.template.FastListTemplate(
        title="Player 360",
        main=[pn.Column(pn.pane.Markdown(f"## Store overview\n`{data.path}`"), button, status)],
    )


page().servable()
