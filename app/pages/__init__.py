"""Pages: each composes views over shared state; no data access of their own."""
