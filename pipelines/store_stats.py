"""Event counts and data clocks without scanning `events`: a summary per property kept by sequence.

A mixin of :class:`pipelines.store.Store` (the connection and the one ``import duckdb`` live there).
`event_stats` holds, per property (NULL: events without one) and origin (ingested or written in
the app), the count, newest sequence number, newest event time and newest write time of every
visible event with ``seq <= upto_seq``. A read adds the few events after ``upto_seq`` (DuckDB's
zone maps on ``seq`` skip the rest), so "how many events, how new" costs milliseconds at 20M
events where a filtered scan costs seconds. Counts add and maxima take the max, so the summary is
mergeable: a sharded store sums its shards' rows.

The summary only moves forward over committed batches (never past the first event of a running
batch, which may still be rolled back) and up to the newest build, so that "events since the
build" is a tail read too. Events are never deleted (an erasure rewrites attrs only), so a folded
row stays right.
"""

from __future__ import annotations

from typing import Any

from pipelines import schema as S

# fold the tail into the summary once it is this long (a reader with a writable store does it)
FOLD_AFTER = 200_000


class EventStats:
    """Summary reads and upkeep of `event_stats` (mixed into Store)."""

    con: Any
    read_only: bool

    def transaction(self) -> Any:  # implemented by Store
        raise NotImplementedError

    def _exists(self, table: str) -> bool:  # implemented by Store
        raise NotImplementedError

    def _stats_mark(self) -> int:
        """The newest sequence number the summary covers (0: none)."""
        row = self.con.execute(f"SELECT max(upto_seq) FROM {S.EVENT_STATS}").fetchall()
        return int(row[0][0] or 0)

    def _fold_limit(self) -> int:
        """How far the summary may go: the newest build's events, never a running batch's."""
        newest = self.con.execute(
            f"SELECT max(max_seq) FROM {S.BUILDS} WHERE status = 'done'").fetchall()[0][0]
        if newest is None:
            newest = self.con.execute(f"SELECT coalesce(max(seq), 0) FROM {S.EVENTS}").fetchall()[0][0]
        running = self.con.execute(
            f"SELECT min(seq) FROM {S.EVENTS} WHERE batch_id IN ({S.HIDDEN_BATCHES})"
        ).fetchall()[0][0] if self.con.execute(
            f"SELECT count(*) FROM {S.INGEST_BATCHES} WHERE status = 'running'").fetchall()[0][0] else None
        return int(newest if running is None else min(newest, running - 1))

    def refresh_event_stats(self) -> int:
        """Fold the events after the summary's mark, up to `_fold_limit`, into it; return the new mark."""
        mark, limit = self._stats_mark(), self._fold_limit()
        if limit <= mark:
            return mark
        with self.transaction():
            self.con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _stats AS
                SELECT property_id, app, sum(events)::BIGINT AS events, max(max_seq) AS max_seq,
                    max(newest_ts) AS newest_ts, max(newest_recorded) AS newest_recorded
                FROM (
                    SELECT property_id, app, events, max_seq, newest_ts, newest_recorded FROM {S.EVENT_STATS}
                    UNION ALL
                    SELECT property_id, source = 'app', count(*), max(seq), max(ts) FILTER (WHERE source <> 'app'),
                        max(recorded_at)
                    FROM {S.EVENTS} WHERE seq > {mark:d} AND seq <= {limit:d} AND {S.VISIBLE} GROUP BY ALL
                ) GROUP BY ALL""")
            self.con.execute(f"DELETE FROM {S.EVENT_STATS}")
            self.con.execute(f"INSERT INTO {S.EVENT_STATS} SELECT *, {limit:d} FROM _stats")
            self.con.execute("DROP TABLE _stats")
        return limit

    def event_clock(self, properties: tuple[str, ...] | None, since_seq: int | None = None) -> dict[str, Any]:
        """Visible events at `properties` (None: every event, with or without a property): count,
        newest sequence number, newest ingested event time (app writes carry the wall clock and do
        not move it), newest write, and how many have ``seq > since_seq`` (None when not asked)."""
        summarised = self._exists(S.EVENT_STATS)  # not yet on a read-only open of an older store
        mark = self._stats_mark() if summarised else 0
        where = "TRUE" if properties is None else "property_id IN (SELECT unnest(?::VARCHAR[]))"
        scope = [] if properties is None else [list(properties)]
        since = 2**62 if since_seq is None else since_seq
        folded = (f"SELECT property_id, events, max_seq, newest_ts, newest_recorded, 0 AS after "
                  f"FROM {S.EVENT_STATS} UNION ALL") if mark else ""
        row = self.con.execute(f"""
            SELECT coalesce(sum(events), 0)::BIGINT, max(max_seq), max(newest_ts), max(newest_recorded),
                coalesce(sum(after), 0)::BIGINT
            FROM ({folded}
                SELECT property_id, count(*) AS events, max(seq) AS max_seq,
                    max(ts) FILTER (WHERE source <> 'app') AS newest_ts, max(recorded_at) AS newest_recorded,
                    count(*) FILTER (WHERE seq > {since:d}) AS after
                FROM {S.EVENTS} WHERE seq > {mark:d} AND {S.VISIBLE} GROUP BY ALL
            ) WHERE {where}""", scope).fetchall()[0]
        after = row[4]
        if since_seq is not None and since_seq < mark:  # the summary went past it: count directly
            after = self.con.execute(f"SELECT count(*) FROM {S.EVENTS} WHERE seq > ? AND {S.VISIBLE} AND {where}",
                                     [since_seq, *scope]).fetchall()[0][0]
        if summarised and not self.read_only and self._tail_length(mark) > FOLD_AFTER:
            self.refresh_event_stats()
        return {"events": int(row[0]), "max_seq": row[1], "newest_ts": row[2], "newest_recorded": row[3],
                "events_after": None if since_seq is None else int(after)}

    def _tail_length(self, mark: int) -> int:
        """Events after the summary's mark (zone maps on seq keep this cheap)."""
        return int(self.con.execute(f"SELECT count(*) FROM {S.EVENTS} WHERE seq > {mark:d}").fetchall()[0][0])
