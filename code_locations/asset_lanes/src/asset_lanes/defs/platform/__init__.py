"""Platform domain: checks that the location's runtime (GDAL tools) is usable."""
