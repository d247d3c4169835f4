"""Small Panel views; none of them touches DuckDB."""
