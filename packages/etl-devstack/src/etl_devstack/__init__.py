"""Local platform stack and test harness: S3 server, Mongo wire server, PostGIS, Dagster."""
