"""Tables of the reward rules engine (migration 6): rule versions, their audit trail, issued runs.

Kept apart from `pipelines.schema` so the reward tables read as one unit; `schema.MIGRATIONS_LIST`
applies them as version 6. Every table is append-only: a rule change is a new version plus an
audit row (who, role, when, why, the rule before and after); a run is written once with its members.
"""

from __future__ import annotations

REWARD_RULES = "reward_rules"
REWARD_RULE_AUDIT = "reward_rule_audit"
REWARD_RUNS = "reward_runs"
REWARD_RUN_MEMBERS = "reward_run_members"
REWARD_TABLES = (REWARD_RULES, REWARD_RULE_AUDIT, REWARD_RUNS, REWARD_RUN_MEMBERS)

V6 = [
    f"""CREATE TABLE {REWARD_RULES} (
        rule_id VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        status VARCHAR NOT NULL CHECK (status IN ('active', 'retired')),
        body VARCHAR NOT NULL,
        priority INTEGER NOT NULL,
        reward_type VARCHAR NOT NULL,
        saved_by VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        saved_at TIMESTAMP NOT NULL,
        PRIMARY KEY (rule_id, version)
    )""",
    f"""CREATE TABLE {REWARD_RULE_AUDIT} (
        audit_seq BIGINT PRIMARY KEY,
        rule_id VARCHAR NOT NULL,
        action VARCHAR NOT NULL CHECK (action IN ('add', 'update', 'retire', 'restore')),
        version_before INTEGER,
        version_after INTEGER NOT NULL,
        before VARCHAR,
        after VARCHAR NOT NULL,
        actor VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        changed_at TIMESTAMP NOT NULL
    )""",
    f"""CREATE TABLE {REWARD_RUNS} (
        run_id VARCHAR PRIMARY KEY,
        as_of DATE NOT NULL,
        issued_at TIMESTAMP NOT NULL,
        rules VARCHAR NOT NULL,
        holdout_share DOUBLE NOT NULL,
        measurement_days INTEGER NOT NULL,
        scope VARCHAR,
        policy VARCHAR NOT NULL,
        summary VARCHAR NOT NULL,
        eligible BIGINT NOT NULL,
        treated BIGINT NOT NULL,
        holdout BIGINT NOT NULL,
        issued_value DOUBLE NOT NULL,
        expected_cost DOUBLE NOT NULL,
        expected_margin DOUBLE NOT NULL,
        actor VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL
    )""",
    f"""CREATE TABLE {REWARD_RUN_MEMBERS} (
        run_id VARCHAR NOT NULL,
        player_id VARCHAR NOT NULL,
        rule_id VARCHAR NOT NULL,
        rule_version INTEGER NOT NULL,
        arm VARCHAR NOT NULL CHECK (arm IN ('treatment', 'holdout')),
        draw DOUBLE NOT NULL,
        segment VARCHAR,
        reward_type VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        amount DOUBLE NOT NULL,
        value DOUBLE NOT NULL,
        expected_cost DOUBLE NOT NULL,
        expected_margin DOUBLE NOT NULL,
        reward_id VARCHAR,
        event_id VARCHAR
    )""",
]
