"""The store's ingest writes: a batch commits chunk by chunk and becomes visible once committed.

Part of `Store` (a mixin running on the Store's connection; `pipelines/store.py` stays the one
module that imports duckdb). Why chunk by chunk: one transaction per file kept every uncommitted
row in memory (about 0.5 GB per million rows); committing each chunk bounds memory by the chunk.
Atomicity as readers see it is kept by status: a batch is 'running' while its chunks land, and
every reader of events skips running batches (`schema.VISIBLE`); the batch turns 'committed' in
one last transaction. A batch whose process died stays 'running' until the next writer opens the
store, which deletes its rows and marks it failed (`recover_batches`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from pipelines import schema as S

# Batches being ingested by this process: never "stale", whatever another Store object thinks.
_LIVE: set[str] = set()
INTERRUPTED = "interrupted: the ingest process ended before the batch finished"


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


class IngestWrites:
    """Batch lifecycle and chunk writes of the ingest (mixed into `Store`)."""

    con: Any  # the Store's DuckDB connection; `transaction` and `_insert_row` come from Store

    # -- lifecycle ---------------------------------------------------------------------------------
    def recover_batches(self) -> list[str]:
        """Remove the rows of stale running batches (their process died) and mark them failed."""
        rows = self.con.execute(
            f"SELECT batch_id FROM {S.INGEST_BATCHES} WHERE status = 'running'"
        ).fetchall()
        stale = [r[0] for r in rows if r[0] not in _LIVE]
        for batch_id in stale:
            self._fail(batch_id, INTERRUPTED)
        return stale

    def start_batch(self, log: dict[str, Any]) -> int:
        """Register a running batch (committed at once, hidden from readers); return its base seq.

        Its events get seq = base + file row: increasing in file order, unique, with gaps.
        """
        _LIVE.add(log["batch_id"])
        # Explicit DDL on purpose: in DuckDB 2.0.0 a table created by CREATE TABLE AS from an
        # empty registered frame inside a transaction silently loses a later large insert.
        self.con.execute("CREATE OR REPLACE TEMP TABLE _occ (content_md5 VARCHAR PRIMARY KEY, n BIGINT NOT NULL)")
        with self.transaction():
            base = self.con.execute(f"SELECT coalesce(max(seq), 0) FROM {S.EVENTS}").fetchall()[0][0]
            self._insert_row(S.INGEST_BATCHES, log | {"status": "running"})
        return base

    def finish_batch(self, batch_id: str, *, source: str, base_seq: int, counts: dict[str, int]) -> None:
        """Publish the batch: project the player master when players came in, mark it committed."""
        with self.transaction():
            if source == "players":
                self._project_players(base_seq)
            self._set_status(batch_id, "committed", None, counts)
            self.con.execute(  # the order batches became visible in: what tells a build's base what it saw
                f"UPDATE {S.INGEST_BATCHES} SET visible_seq = nextval('{S.BATCH_VISIBLE_SEQ}') WHERE batch_id = ?",
                [batch_id])
        _LIVE.discard(batch_id)
        self.con.execute("DROP TABLE IF EXISTS _occ")

    def fail_batch(self, batch_id: str, error: str) -> None:
        """Remove what the batch wrote so far and mark it failed with the reason."""
        self._fail(batch_id, error)
        self.con.execute("DROP TABLE IF EXISTS _occ")

    def _fail(self, batch_id: str, error: str) -> None:
        with self.transaction():
            self.con.execute(
                f"DELETE FROM {S.INGEST_KEYS} WHERE seq IN (SELECT seq FROM {S.EVENTS} WHERE batch_id = ?)",
                [batch_id])
            removed = self.con.execute(f"DELETE FROM {S.EVENTS} WHERE batch_id = ?", [batch_id]).fetchall()[0][0]
            self.con.execute(f"DELETE FROM {S.REJECTED_ROWS} WHERE batch_id = ?", [batch_id])
            note = f" ({removed:,} uncommitted events removed)" if removed else ""
            self._set_status(batch_id, "failed", error + note, {"events_added": 0})
        _LIVE.discard(batch_id)

    def _set_status(self, batch_id: str, status: str, error: str | None, counts: dict[str, int]) -> None:
        sets = ", ".join(f"{name} = ?" for name in counts)
        self.con.execute(
            f"UPDATE {S.INGEST_BATCHES} SET status = ?, error = ?, finished_at = ?{', ' + sets if sets else ''} "
            "WHERE batch_id = ?",
            [status, error, _now(), *counts.values(), batch_id],
        )

    # -- chunks ------------------------------------------------------------------------------------
    def apply_chunk(self, staged: pl.DataFrame, rejected: pl.DataFrame, *, batch_id: str, source: str,
                    actor: str, role: str, base_seq: int) -> tuple[int, int]:
        """Write one chunk in one transaction: its rejected rows, its new events and their keys.

        `staged` holds the good rows (event columns + `_row`, `content`). Returns (events_added,
        duplicates). The idempotency key is md5(source, record key, content) for keyed rows and
        md5(source, content md5 # occurrence number in the file) for rows without a key. A new
        version of a known record key supersedes the current one (`corrects_event_id`); versions
        inside the file chain in file order.
        """
        added = 0
        if staged.height:
            # Arrow string views: DuckDB reads Polars' strings in place (the default export copies them).
            self.con.register("_c", staged.to_arrow(compat_level=pl.CompatLevel.newest()))
            try:
                path = self._stage_ids(staged, source)
                with self.transaction():
                    self._reject(batch_id, rejected)
                    added = self._insert_new(path, batch_id=batch_id, actor=actor, role=role, base_seq=base_seq)
            finally:
                self.con.unregister("_c")
            self.con.execute("DROP TABLE _ids" + ("; DROP TABLE _new; DROP TABLE _prev" if path == "general" else ""))
        else:
            with self.transaction():
                self._reject(batch_id, rejected)
        return added, staged.height - added

    def _reject(self, batch_id: str, frame: pl.DataFrame) -> None:
        """Keep rejected rows (columns row_number, raw, column, reason) with the batch."""
        if frame.height == 0:
            return
        self.con.register("_rej", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        try:
            self.con.execute(
                f'INSERT INTO {S.REJECTED_ROWS} SELECT ?, row_number, raw, "column", reason FROM _rej',
                [batch_id])
        finally:
            self.con.unregister("_rej")

    def _stage_ids(self, staged: pl.DataFrame, source: str) -> str:
        """From the registered chunk `_c`, temp tables `_ids` (every row's ids), and on the general
        path `_new` (rows not yet stored) and `_prev` (what they correct).

        `_ids` holds `_row`, `rk` (the record key made for a key-less row, else NULL: the row's own
        `record_key`), `event_id` and `record_hash`; each md5 is computed once per row, here. Returns
        "fresh" when every row is new and corrects nothing (then `_ids` is the new rows; "aligned"
        when it also lists the rows of `_c` in their order, every row being keyed), else "general".
        """
        con = self.con
        nulls = staged["record_key"].null_count()
        keyed = """SELECT _row, NULL::VARCHAR AS rk, md5($1 || chr(31) || record_key || chr(31) || content)
            AS event_id, md5_number($1 || chr(31) || record_key) AS record_hash FROM _c"""
        if not nulls:  # one projection of the scan: rows stay in `_c`'s order (insertion order is kept)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _ids AS {keyed}", [source])
        else:
            keyless = """SELECT _row, rk, md5($1 || chr(31) || rk) AS event_id, md5_number($1 || chr(31) || rk)
                AS record_hash FROM (
                SELECT c._row, c.cm || '#' || CAST(coalesce(o.n, 0) - 1 + row_number() OVER (
                    PARTITION BY c.cm ORDER BY c._row) AS VARCHAR) AS rk
                FROM (SELECT _row, md5(content) AS cm FROM _c WHERE record_key IS NULL) c
                LEFT JOIN _occ o ON o.content_md5 = c.cm)"""
            parts = ([keyed + " WHERE record_key IS NOT NULL"] if nulls < staged.height else []) + [keyless]
            con.execute(f"CREATE OR REPLACE TEMP TABLE _ids AS {' UNION ALL '.join(parts)}", [source])
            # occurrence counts of key-less rows carry over to the next chunk of the file
            con.execute(
                """INSERT INTO _occ SELECT split_part(rk, '#', 1), count(*) FROM _ids WHERE rk IS NOT NULL
                GROUP BY 1 ON CONFLICT (content_md5) DO UPDATE SET n = n + excluded.n""")
        # Stored versions of this chunk's records: one probe of a fixed-width column, not of `events`.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _old AS
            SELECT record_hash, event_key, seq FROM {S.INGEST_KEYS}
            WHERE record_hash IN (SELECT record_hash FROM _ids)""")
        stored = con.execute("SELECT count(*) FROM _old").fetchall()[0][0]
        keys = staged["record_key"].drop_nulls()  # key-less rows never repeat
        repeats = keys.n_unique() < keys.len()  # (several times cheaper than is_duplicated)
        if not stored and not repeats:  # the common case of fresh rows: all new, nothing to correct
            con.execute("DROP TABLE _old")
            return "fresh" if nulls else "aligned"
        # New rows: first occurrence in the chunk of an event key not stored yet.
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _new AS SELECT _row, rk, event_id, record_hash FROM _ids
            WHERE ('0x' || event_id)::UHUGEINT NOT IN (SELECT event_key FROM _old)"""
            + (" QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _row) = 1" if repeats else ""))
        # What each new version corrects: the version before it in this file, else the newest stored one.
        chain = """SELECT _row, lag(event_id) OVER (PARTITION BY record_hash ORDER BY _row) AS prev_id FROM _new
            WHERE record_hash IN (SELECT record_hash FROM _new GROUP BY record_hash HAVING count(*) > 1)"""
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _prev AS
            SELECT n._row, coalesce(c.prev_id, printf('%032x', o.event_key)) AS prev_id
            FROM _new n
            LEFT JOIN ({chain if repeats else "SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS prev_id"}) c
                ON c._row = n._row
            LEFT JOIN (SELECT record_hash, arg_max(event_key, seq) AS event_key FROM _old
                WHERE record_hash IN (SELECT record_hash FROM _new) GROUP BY record_hash) o
                ON o.record_hash = n.record_hash
            WHERE c.prev_id IS NOT NULL OR o.event_key IS NOT NULL""")
        con.execute("DROP TABLE _old")
        return "general"

    def _insert_new(self, path: str, *, batch_id: str, actor: str, role: str, base_seq: int) -> int:
        """Append the chunk's new events (from `_c`) and their keys (inside the chunk's transaction)."""
        con = self.con
        cols = [c for c in S.EVENT_COLUMNS if c not in S.STORE_ASSIGNED and c != "record_key"]
        new = "_new" if path == "general" else "_ids"
        rows = f"{new} n JOIN _c s ON s._row = n._row"
        if path == "aligned":
            # `_ids` is `_c` row for row: pair them by position instead of hashing a join on `_row`
            # (a cheap check of every pair first: should the order ever differ, the join is used).
            paired = f"_c s POSITIONAL JOIN {new} n"
            if not con.execute(f"SELECT count(*) FROM {paired} WHERE s._row IS DISTINCT FROM n._row").fetchall()[0][0]:
                rows = paired
        con.execute(
            f"""INSERT INTO {S.EVENTS} ({", ".join(cols)}, record_key, event_id, seq, actor, role,
                    recorded_at, batch_id, corrects_event_id)
            SELECT {", ".join(f"s.{c}" for c in cols)}, coalesce(n.rk, s.record_key), n.event_id, ? + n._row,
                ?, ?, ?, ?, {"p.prev_id" if path == "general" else "NULL"}
            FROM {rows} {"LEFT JOIN _prev p ON p._row = n._row" if path == "general" else ""}""",
            [base_seq, actor, role, _now(), batch_id])
        con.execute(
            f"INSERT INTO {S.INGEST_KEYS} SELECT record_hash, ('0x' || event_id)::UHUGEINT, ? + _row FROM {new}",
            [base_seq])
        return con.execute(f"SELECT count(*) FROM {new}").fetchall()[0][0]

    # -- player master -----------------------------------------------------------------------------
    def _project_players(self, after_seq: int) -> None:
        """Upsert the player master from player events newer than `after_seq`.

        Per player (and per player and property) the newest non-empty value of each field wins;
        a field a file leaves empty keeps its stored value.
        """
        def latest(expr: str, alias: str) -> str:
            return f"max_by({expr}, CASE WHEN ({expr}) IS NULL THEN NULL ELSE seq END) AS {alias}"

        fresh = f"{S.EVENTS} WHERE source = 'players' AND seq > {int(after_seq)}"
        text = {f: f"attrs->>'{f}'" for f in ("first_name", "last_name", "email", "phone", "address",
                                                "status", "card_number", "external_id", "tier")}
        enrolled = "TRY_CAST(attrs->>'enrolled_at' AS TIMESTAMP)"
        profile = ", ".join(latest(text[f], f) for f in ("first_name", "last_name", "email", "phone",
                                                          "address", "status"))
        self.con.execute(
            f"""INSERT INTO {S.PLAYERS} BY NAME
            SELECT player_id, {profile},
                {latest("TRY_CAST(attrs->>'date_of_birth' AS DATE)", "date_of_birth")},
                min({enrolled}) AS enrolled_at, max(recorded_at) AS updated_at,
                arg_max(event_id, seq) AS last_event_id
            FROM {fresh} GROUP BY player_id
            ON CONFLICT (player_id) DO UPDATE SET
                first_name = coalesce(excluded.first_name, first_name),
                last_name = coalesce(excluded.last_name, last_name),
                date_of_birth = coalesce(excluded.date_of_birth, date_of_birth),
                email = coalesce(excluded.email, email),
                phone = coalesce(excluded.phone, phone),
                address = coalesce(excluded.address, address),
                status = coalesce(excluded.status, status),
                enrolled_at = least(excluded.enrolled_at, enrolled_at),
                updated_at = excluded.updated_at,
                last_event_id = excluded.last_event_id"""
        )
        link = ", ".join(latest(text[f], f) for f in ("card_number", "external_id", "tier"))
        self.con.execute(
            f"""INSERT INTO {S.PLAYER_PROPERTIES} BY NAME
            SELECT player_id, property_id, {link}, min({enrolled}) AS enrolled_at,
                {latest("CAST(attrs->'flags' AS VARCHAR[])", "flags")},
                max(recorded_at) AS updated_at
            FROM {fresh} AND property_id IS NOT NULL GROUP BY player_id, property_id
            ON CONFLICT (player_id, property_id) DO UPDATE SET
                card_number = coalesce(excluded.card_number, card_number),
                external_id = coalesce(excluded.external_id, external_id),
                enrolled_at = least(excluded.enrolled_at, enrolled_at),
                tier = coalesce(excluded.tier, tier),
                flags = coalesce(excluded.flags, flags),
                updated_at = excluded.updated_at"""
        )
