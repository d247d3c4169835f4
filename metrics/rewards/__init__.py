"""The reward rules engine: pure definitions and math (no I/O).

rules (the file format and its validation), formula (reward amounts), conditions, features (the
columns rules read besides the metric catalog), signals (per-player features from the ledger),
abuse (the policy that reduces or blocks rewards), safety (the profit check), engine (vectorised
evaluation: conflicts, caps), simulate (what a run would cost and earn), holdout (deterministic
random control groups) and wallet (balances derived from the ledger).
"""
