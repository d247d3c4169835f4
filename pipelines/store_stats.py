"""Event counts and data clocks without scanning `events`: a summary per property kept by sequence.

A mixin of :class:`pipelines.store.Store` (the connection and the one ``import duckdb`` live there).
`event_stats` holds, per property (NULL: events without one), source and event type, the count,
newest sequence number, newest event time and newest write time of every visible event (every
stored version) with ``seq <= upto_seq``. A read adds the few events after ``upto_seq`` (DuckDB's
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
                SELECT property_id, source, event_type, sum(events)::BIGINT AS events, max(max_seq) AS max_seq,
                    max(newest_ts) AS newest_ts, max(newest_recorded) AS newest_recorded
                FROM (
                    SELECT property_id, source, event_type, events, max_seq, newest_ts, newest_recorded
                    FROM {S.EVENT_STATS}
                    UNION ALL
                    {self._tail_sql(mark, limit)}
                ) GROUP BY ALL""")
            self.con.execute(f"DELETE FROM {S.EVENT_STATS}")
            self.con.execute(f"INSERT INTO {S.EVENT_STATS} SELECT *, {limit:d} FROM _stats")
            self.con.execute("DROP TABLE _stats")
        return limit

    @staticmethod
    def _tail_sql(mark: int, limit: int | None = None) -> str:
        """The summary rows of the visible events with mark < seq (<= limit)."""
        upper = "" if limit is None else f" AND seq <= {limit:d}"
        return (f"SELECT property_id, source, event_type, count(*) AS events, max(seq) AS max_seq, "
                f"max(ts) AS newest_ts, max(recorded_at) AS newest_recorded FROM {S.EVENTS} "
                f"WHERE seq > {mark:d}{upper} AND {S.VISIBLE} GROUP BY ALL")

    def event_summary(self, properties: tuple[str, ...] | None = None) -> Any:
        """Per property, source and event type (at `properties`; None: everything, events without a
        property too): events stored (every version), newest sequence number, newest event time,
        newest write. A Polars frame; milliseconds at any size."""
        summarised = self._exists(S.EVENT_STATS)  # not yet on a read-only open of an older store
        mark = self._stats_mark() if summarised else 0
        folded = (f"SELECT property_id, source, event_type, events, max_seq, newest_ts, newest_recorded "
                  f"FROM {S.EVENT_STATS} UNION ALL ") if mark else ""
        where = "TRUE" if properties is None else "property_id IN (SELECT unnest(?::VARCHAR[]))"
        frame = self.sql(
            f"""SELECT property_id, source, event_type, sum(events)::BIGINT AS events, max(max_seq) AS max_seq,
                max(newest_ts) AS newest_ts, max(newest_recorded) AS newest_recorded
            FROM ({folded}{self._tail_sql(mark)}) WHERE {where} GROUP BY ALL
            ORDER BY property_id NULLS FIRST, source, event_type""",
            [] if properties is None else [list(properties)])
        if summarised and not self.read_only and self._tail_length(mark) > FOLD_AFTER:
            self.refresh_event_stats()
        return frame

    def event_clock(self, properties: tuple[str, ...] | None, since_seq: int | None = None) -> dict[str, Any]:
        """Visible events at `properties` (None: every event, with or without a property): count,
        newest sequence number, newest ingested event time (app writes carry the wall clock and do
        not move it), newest write, and how many have ``seq > since_seq`` (None when not asked)."""
        summary = self.event_summary(properties)
        ingested = summary.filter(summary["source"] != "app")
        after = None
        if since_seq is not None:
            where = "TRUE" if properties is None else "property_id IN (SELECT unnest(?::VARCHAR[]))"
            # a build's max_seq is at or after the summary's mark: the rows after it are the short
            # tail that zone maps on seq find without a scan
            after = self.con.execute(
                f"SELECT count(*) FROM {S.EVENTS} WHERE seq > {max(int(since_seq), 0):d} AND {S.VISIBLE} AND {where}",
                [] if properties is None else [list(properties)]).fetchall()[0][0]
        return {"events": int(summary["events"].sum()), "max_seq": summary["max_seq"].max(),
                "newest_ts": ingested["newest_ts"].max(), "newest_recorded": summary["newest_recorded"].max(),
                "events_after": None if since_seq is None else int(after)}

    def _tail_length(self, mark: int) -> int:
        """Events after the summary's mark (zone maps on seq keep this cheap)."""
        return int(self.con.execute(f"SELECT count(*) FROM {S.EVENTS} WHERE seq > {mark:d}").fetchall()[0][0])
