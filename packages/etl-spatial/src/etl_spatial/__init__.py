"""Spatial compute: PostGIS ephemeral schemas, GDAL runner, lake writers, spatial metadata."""
