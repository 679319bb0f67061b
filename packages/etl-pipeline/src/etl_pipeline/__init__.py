"""Batch processing shared by both code locations (no Dagster imports at module level)."""
