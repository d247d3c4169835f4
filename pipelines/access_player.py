"""One player's 360 as a principal may see it: the scope checked once, then point reads.

Through the `s_*` macros, every one-player query plans the scope's branches again (a `UNION ALL`
per events read, an `EXISTS` per row read) and finds the newest as_of by a subquery, which keeps
DuckDB from pruning by it: the app's player read took 60 ms for an admin and 100 ms for a host
scoped to one property at 1M players (six queries). Here the player's visibility is asked once
(its ids' property links in scope), and the rows are read by constants that reach the scans: the
ids as an IN-list on the stored column, the newest as_of, the hidden batches. The filters are the
same `ScopeSql` fragments the macros are made of, so both paths apply one policy; the tests
compare them row for row. The events query runs on the store's second connection
(`Store.alongside`) while the scope is checked and the profile, card and insights are read on the
first.
"""

from __future__ import annotations

from concurrent.futures import wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from pipelines import schema as S
from pipelines.scope_sql import ScopeSql
from pipelines.store_layout import newest_first

if TYPE_CHECKING:
    from pipelines.access import Access
    from pipelines.store import Store

# attrs keys the app reads, shipped as columns `a_<key>` next to the events
ATTR_KEYS = ("text", "description", "visibility", "author", "author_role", "severity", "direction",
             "reward_id", "reward_type", "campaign_id", "arm", "channel", "method", "tag", "title",
             "due", "assignee", "note_id", "task_id", "visit_id")
_ATTR_PATHS = "[" + ", ".join(f"'$.{k}'" for k in ATTR_KEYS) + "]"
CARDED = S.CARD_TABLES  # (player_metrics, player_segments)
_SEVERITY_RANK = {"critical": 0, "warning": 1}


@dataclass
class PlayerView:
    """What a principal may see of one player (every frame already filtered by the scope)."""

    player_id: str  # the survivor
    ids: list[str]  # the survivor and its merged ids
    profile: dict[str, Any]
    properties: pl.DataFrame
    metrics: dict[str, Any] | None
    segments: dict[str, Any] | None
    insights: pl.DataFrame = field(default_factory=pl.DataFrame)
    events: pl.DataFrame = field(default_factory=pl.DataFrame)  # every version, newest first


def attr_columns(e: str = "e") -> str:
    """The select list of the attrs keys the app reads (`a_<key>`) from table alias ``e``."""
    return ", ".join(f"json_extract_string({e}.attrs, '$.{k}') AS a_{k}" for k in ATTR_KEYS)


def _placeholders(values: list[str]) -> str:
    return "(" + ", ".join("?" * len(values)) + ")"


def survivor_in_scope(access: Access, player_id: str) -> str | None:
    """The survivor id of a player the principal may see (a merged id resolved), else None. A merged
    id whose survivor is out of scope resolves to None too: through it, a write would reach the
    survivor."""
    survivor, ids = _ids(access, player_id)
    _, visible = _links(access, ScopeSql(**access.variables()), ids)
    if survivor not in visible:
        return None
    known = access.store.first_row(f"SELECT player_id FROM {S.PLAYERS} WHERE player_id = ?", [survivor])
    return survivor if known is not None else None


def read_player(access: Access, player_id: str, event_limit: int = 100_000) -> PlayerView | None:
    """The player (a merged id resolves to its survivor), or None when it does not exist for the
    principal: unknown, or not linked to a property in scope."""
    store, scope = access.store, ScopeSql(**access.variables())
    survivor, ids = _ids(access, player_id)
    # The events (the largest query) on the store's second connection, beside the other reads on
    # this one: DuckDB runs them in parallel (p50 16.7 -> 12.4 ms at 1M players, the same CPU). It
    # starts before the scope check, for every id of the player: the links decide only which
    # property-less events are shown, and those rows are dropped below before anything is returned.
    beside = store.alongside()
    fetched = beside[1].submit(_event_rows, beside[0], scope, ids) if beside is not None else None
    try:
        links, visible = _links(access, scope, ids)
        if survivor not in visible:
            return None
        profile = store.first_row(f"SELECT {scope.player_columns(pseudonym=False)} FROM {S.PLAYERS} p "
                                  "WHERE p.player_id = ?", [survivor])
        newest = store.newest_as_of()
        rows = _snapshot_rows(access, survivor, newest)
        insights = _insights(access, survivor, newest)
    finally:  # the second connection is free again before this read ends, whatever happened here
        if fetched is not None:
            wait([fetched])
    if profile is None:
        return None
    profile = {"player_id": survivor, "pseudonym": scope.pseudonym(survivor),
               **{k: v for k, v in profile.items() if k != "player_id"}}  # the select list's order
    read = fetched.result() if fetched is not None else _event_rows(store, scope, ids)
    return PlayerView(survivor, ids, profile, links, rows["player_metrics"], rows["player_segments"],
                      insights, _timeline(read, ids, visible, event_limit))


def _ids(access: Access, player_id: str) -> tuple[str, list[str]]:
    """(the survivor of a player id, the survivor's ids: itself and its merged ids)."""
    survivor, merged = access.store.ids_of(player_id)
    return survivor, [survivor, *merged]


def _links(access: Access, scope: ScopeSql, ids: list[str]) -> tuple[pl.DataFrame, list[str]]:
    """(the ids' property links in scope, the ids of players the principal may see), in one read:
    a player is visible through a link in scope (`ScopeSql.visible_player`), or to everyone who
    sees every property."""
    rows, types = access.store.small_rows(
        f"""SELECT {scope.property_links()}, {scope.in_scope('pp.property_id')} AS _in_scope
            FROM {S.PLAYER_PROPERTIES} pp WHERE pp.player_id IN {_placeholders(ids)}""", ids)
    del types["_in_scope"]
    at, prop = list(types).index("player_id"), list(types).index("property_id")
    # kept and ordered here: as a frame filter the scope cost 0.7 ms a read, as ORDER BY 0.6 ms
    rows = sorted((r[:-1] for r in rows if r[-1]), key=lambda r: (r[prop], r[at]))
    links = _frame(rows, types)
    if scope.every:
        return links, ids
    linked = {r[at] for r in rows}
    return links, [i for i in ids if i in linked]


def _event_rows(store: Store, scope: ScopeSql, ids: list[str]) -> tuple[list[tuple], dict[str, Any]]:
    """(rows, their column types) of every stored version of the ids' events the principal may read
    whichever of the ids they may see (a batch still being ingested left out): `_timeline` then keeps
    the property-less events of the visible ids only. The filter is SQL (the policy's fragments); the
    attrs keys the app reads come as one list per row, from one `json_extract_string` over their
    paths."""
    hidden = store.hidden_batches()
    shown = "NOT list_contains(?::VARCHAR[], e.batch_id)" if hidden else "true"
    # the macros' two branches as one condition, for ids all visible (`_timeline` narrows it)
    where = (f"e.player_id IN {_placeholders(ids)} AND {shown} AND {scope.note_ok()} AND "
             f"({scope.in_scope('e.property_id')} OR e.property_id IS NULL)")
    attrs = scope.attrs()
    columns = ", ".join(f"e.{c}" if c != "attrs" else f"CAST({attrs} AS VARCHAR) AS attrs" for c in S.EVENT_COLUMNS)
    return store.small_rows(
        f"SELECT {columns}, json_extract_string({attrs}, {_ATTR_PATHS}) AS _keys FROM {S.EVENTS} e WHERE {where}",
        [*ids, *([hidden] if hidden else [])])


def _timeline(read: tuple[list[tuple], dict[str, Any]], ids: list[str], visible: list[str], limit: int) -> pl.DataFrame:
    """The events of `_event_rows` a principal who sees the ``visible`` ids may read, newest first,
    with `superseded` marking the versions a correction among them replaced and the attrs keys as
    columns `a_<key>`.

    What only reshapes the rows is done here, over the few hundred rows of one player: the order,
    `superseded` (as the macros' subquery over s_events_all) and the attrs keys. As SQL (`ORDER BY`,
    a window, twenty extractions) they doubled the statement's cost: 10 ms of planning and
    projection against 4 (1M players)."""
    rows, types = read
    names = list(types)
    if len(visible) < len(ids):  # before `superseded`: a correction the principal may not read marks nothing
        at, prop, seen = names.index("player_id"), names.index("property_id"), set(visible)
        rows = [r for r in rows if r[prop] is not None or r[at] in seen]
    gone = newest_first(rows, names)
    eid = names.index("event_id")
    blank = (None,) * len(ATTR_KEYS)
    out = [(*r[:-1], r[eid] in gone, *(r[-1] or blank)) for r in rows[:limit]]
    kept = {name: kind for name, kind in types.items() if name != "_keys"}
    return _frame(out, kept, (("superseded", pl.Boolean), *((f"a_{k}", pl.String) for k in ATTR_KEYS)))


def _snapshot_rows(access: Access, survivor: str, newest: Any) -> dict[str, dict[str, Any] | None]:
    """The player's rows in the newest metrics and segments snapshots: from the player's card when
    the cards are of the newest build (`pipelines.cards`), else from the snapshots."""
    store = access.store
    card = store.card(survivor, newest) if newest is not None else None
    if card is not None and all(card.get(t) is not None for t in CARDED):
        return {t: card[t] for t in CARDED}
    return {t: store.first_row(f"SELECT * FROM {t} WHERE as_of = ? AND player_id = ?", [newest, survivor])
            if newest is not None and store.has_table(t) else None for t in CARDED}


def _insights(access: Access, survivor: str, newest: Any) -> pl.DataFrame:
    """The player's insights in the newest snapshot, most severe first."""
    store = access.store
    if newest is None or not store.has_table("player_insights"):
        return pl.DataFrame()
    rows, types = store.small_rows("SELECT * FROM player_insights WHERE as_of = ? AND player_id = ?",
                                   [newest, survivor])
    at = {name: k for k, name in enumerate(types)}
    severity, rule = at["severity"], at["rule"]
    # most severe first, then by rule (ordered here: in SQL the order cost 0.6 ms a read)
    rows.sort(key=lambda r: (_SEVERITY_RANK.get(r[severity], len(_SEVERITY_RANK)), r[rule] is None, r[rule] or ""))
    return _frame(rows, types)


def _frame(rows: list[tuple], types: dict[str, pl.DataType | None],
           extra: tuple[tuple[str, pl.DataType], ...] = ()) -> pl.DataFrame:
    """A frame of rows with their columns' types (Polars infers a type `small_rows` does not map),
    then the ``extra`` columns the rows carry at their end."""
    schema = [(name, kind) if kind is not None else name for name, kind in types.items()]
    return pl.DataFrame(rows, schema=[*schema, *extra], orient="row")
