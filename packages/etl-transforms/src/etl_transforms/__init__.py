"""Transformation recipes: registry by intent, vector/raster/tabular steps, joins."""
