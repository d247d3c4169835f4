"""Charts made ahead between page loads (`app.views.chart_pool`)."""

from __future__ import annotations

from app.views import charts
from app.views.chart_pool import ChartPool


def test_outside_a_server_every_chart_is_built_on_the_spot():
    pool = ChartPool()
    a, b = pool.take(charts.Bars, "Visits", "visits"), pool.take(charts.Bars, "Visits", "visits")
    assert a is not b and pool.built_ahead == 0


def test_a_served_page_takes_charts_made_after_the_last_one_each_handed_out_once():
    turns = []  # the event loop's later turns
    pool = ChartPool(keep=2, schedule=turns.append)
    first = pool.take(charts.HeatMap, "Visit starts", "visits")  # nothing ready yet: built now
    assert len(turns) == 1 and pool.built_ahead == 0
    while turns:  # the loop runs the refills, one chart per turn
        turns.pop(0)()
    assert pool.built_ahead == 2
    second, third = pool.take(charts.HeatMap, "Visit starts", "visits"), pool.take(charts.HeatMap, "Visit starts", "visits")
    assert len({id(first), id(second), id(third)}) == 3  # never the same chart twice
    assert second.fig.title.text == "Visit starts" and second.source.data == {"hour": [], "weekday": [], "count": []}
    while turns:
        turns.pop(0)()
    assert pool.built_ahead == 4  # both replaced


def test_charts_of_other_arguments_are_other_kinds():
    turns = []
    pool = ChartPool(keep=1, schedule=turns.append)
    pool.take(charts.Bars, "Visits by property", "visits", charts.PALETTE[4], rotate=False)
    pool.take(charts.Bars, "Theo by game", "theo $", charts.PALETTE[1], rotate=False)
    while turns:
        turns.pop(0)()
    by_game = pool.take(charts.Bars, "Theo by game", "theo $", charts.PALETTE[1], rotate=False)
    assert by_game.fig.title.text == "Theo by game" and pool.built_ahead == 2
