"""Run once by `panel serve --setup` before the first session: opens the store and computes the
every-property KPI strips in a background thread (seconds at 20M events), so that the first
overview finds them cached instead of every early visitor waiting on the same scans."""

from app.data import DataStore

DataStore.shared().warm()
