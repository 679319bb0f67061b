"""Inspect a vector source before loading it: layers, driver, geometry type, CRS, fields.

Reads through pyogrio (GDAL in-process), so nothing parses tool output. S3 paths get the
caller's S3 settings as GDAL configuration for the duration of the call only
(:func:`etl_spatial.gdal.gdal_config_in_process`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from etl_spatial.gdal import gdal_config_in_process, scrub_secrets
from etl_spatial.oversized_values import (
    GEOJSON_VALUE_LIMIT,
    is_value_too_long,
    locate_long_value,
)
from etl_spatial.vector_source import VectorLoadError, VectorSource, resolve_source

POLYGONAL_TYPES = frozenset({"polygon", "multipolygon"})
LINEAL_TYPES = frozenset({"linestring", "multilinestring"})
GENERIC_TYPES = frozenset({"unknown (any)", "geometry", "geometrycollection", "unknown"})
SINGLE_LAYER_DRIVERS = frozenset({"GeoJSON"})
"""Drivers whose files always hold exactly one layer and whose open reads the whole file (a
GeoJSON's first pass): inspected with one open instead of listing the layers first, which
read a 2 GB file twice in the run worker."""


@dataclass(frozen=True)
class FieldInfo:
    """A source attribute: its name and GDAL field type (``Integer64``, ``Integer(Boolean)``)."""

    name: str
    type: str


@dataclass(frozen=True)
class LayerInfo:
    """What GDAL says about the layer of a source that will be loaded."""

    source: VectorSource
    layer: str
    driver: str
    geometry_type: str
    feature_count: int
    extent: tuple[float, float, float, float] | None
    crs: str | None
    """``EPSG:xxxx`` when GDAL identifies a code, else WKT; ``None`` when the layer has none."""
    fields: tuple[FieldInfo, ...]

    @property
    def geometry_family(self) -> str:
        """``polygon``/``line``/``point``/``generic``, for comparing files of a batch."""
        kind = base_geometry_type(self.geometry_type)
        if kind in POLYGONAL_TYPES:
            return "polygon"
        if kind in LINEAL_TYPES:
            return "line"
        if kind in {"point", "multipoint"}:
            return "point"
        return "generic"


def base_geometry_type(geometry_type: str) -> str:
    """Lower-case 2D name of a GDAL geometry type (``"3D Polygon"``, ``"Polygon Z"`` ->
    ``"polygon"``)."""
    kind = geometry_type.lower().replace("3d ", "")
    for suffix in (" zm", " z", " m"):
        kind = kind.removesuffix(suffix)
    return kind


def _gdal_call(source: VectorSource, gdal_env: Mapping[str, str] | None, call: Any) -> Any:
    """Run ``call()`` with the S3 settings applied; GDAL failures become load errors that
    name the file (and carry no secret)."""
    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        with gdal_config_in_process(gdal_env):
            return call()
    except (DataSourceError, DataLayerError) as exc:
        detail = scrub_secrets(str(exc), gdal_env).replace(source.gdal_path(), "the file")
        if is_value_too_long(detail):
            raise VectorLoadError(_too_long_message(source, detail, gdal_env)) from None
        raise VectorLoadError(
            f"{source.name}: GDAL cannot read it as vector data ({detail})"
        ) from None


def _too_long_message(source: VectorSource, detail: str, gdal_env: Mapping[str, str] | None) -> str:
    feature, field = locate_long_value(source.path, detail, gdal_env)
    where = " and ".join(
        part
        for part in (
            f"feature {feature}" if feature else "",
            f"field {field!r}" if field else "",
        )
        if part
    )
    return (
        f"{source.name}: a value{' in ' + where if where else ''} is longer than the "
        f"{GEOJSON_VALUE_LIMIT:,} characters GeoJSON values may have here; shorten it (keep "
        "large documents as separate files), or upload the data as GeoPackage or FlatGeobuf"
    )


def list_layers(source: VectorSource, *, gdal_env: Mapping[str, str] | None = None) -> list[str]:
    """Layer names of ``source``."""
    import pyogrio

    layers = _gdal_call(source, gdal_env, lambda: pyogrio.list_layers(source.gdal_path()))
    return [str(row[0]) for row in layers]


def choose_layer(source: VectorSource, layers: list[str]) -> str:
    """The layer to load: the only one, or the one the manifest names."""
    if not layers:
        raise VectorLoadError(f"{source.name}: GDAL found no vector layer in this file")
    if source.layer is None:
        if len(layers) > 1:
            raise VectorLoadError(
                f"{source.name} has {len(layers)} layers ({', '.join(layers)}); choose one with "
                "the file's 'layer' in the manifest"
            )
        return layers[0]
    if source.layer not in layers:
        raise VectorLoadError(
            f"{source.name}: layer {source.layer!r} not found; the file has "
            f"{', '.join(repr(n) for n in layers)}"
        )
    return source.layer


def inspect_layer(source: VectorSource, *, gdal_env: Mapping[str, str] | None = None) -> LayerInfo:
    """Describe the layer of ``source`` to load.

    A source with several layers needs ``source.layer``; a missing layer is an error that lists
    the layers the file has. The driver GDAL picks must be the one the manifest's format names.
    """
    source = resolve_source(source, gdal_env=gdal_env)
    layer, info = _single_layer_info(source, gdal_env) or _chosen_layer_info(source, gdal_env)
    expected = source.driver
    if expected and info["driver"] and info["driver"] != expected:
        raise VectorLoadError(
            f"{source.name}: the manifest says format {source.format!r} but GDAL reads the file "
            f"as {info['driver']}; fix the file's format in the manifest"
        )
    bounds = info.get("total_bounds")
    return LayerInfo(
        source=source,
        layer=layer,
        driver=str(info["driver"] or ""),
        geometry_type=str(info["geometry_type"] or "None"),
        feature_count=int(info["features"]),
        extent=tuple(float(v) for v in bounds) if bounds else None,  # type: ignore[arg-type]
        crs=info["crs"] or None,
        fields=tuple(
            FieldInfo(name=str(name), type=_field_type(ogr_type, subtype))
            for name, ogr_type, subtype in zip(
                info["fields"], info["ogr_types"], info["ogr_subtypes"], strict=True
            )
        ),
    )


def _read_info(source: VectorSource, gdal_env: Mapping[str, str] | None, layer: str | int) -> Any:
    import pyogrio

    return _gdal_call(
        source,
        gdal_env,
        lambda: pyogrio.read_info(
            source.gdal_path(), layer=layer, force_feature_count=True, **source.open_options()
        ),
    )


def _chosen_layer_info(
    source: VectorSource, gdal_env: Mapping[str, str] | None
) -> tuple[str, dict[str, Any]]:
    """List the layers, choose one (the only one, or the manifest's), then read its facts."""
    layer = choose_layer(source, list_layers(source, gdal_env=gdal_env))
    return layer, _read_info(source, gdal_env, layer)


def _single_layer_info(
    source: VectorSource, gdal_env: Mapping[str, str] | None
) -> tuple[str, dict[str, Any]] | None:
    """The only layer's facts from one open, for a format whose files have one layer and whose
    open reads the whole file; ``None`` when that does not apply or does not work out (a
    layer named in the manifest, a file of another driver, any GDAL error), so the caller
    takes the listing path, which gives the same result or the same error as always."""
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    if source.driver not in SINGLE_LAYER_DRIVERS or source.layer is not None:
        return None
    try:
        with gdal_config_in_process(gdal_env):
            info = pyogrio.read_info(
                source.gdal_path(), layer=0, force_feature_count=True, **source.open_options()
            )
    except (DataSourceError, DataLayerError):
        return None  # the listing path names what is wrong, as it always did
    if info.get("driver") != source.driver or not info.get("layer_name"):
        return None
    return str(info["layer_name"]), info


def _field_type(ogr_type: str, subtype: str) -> str:
    """``OFTInteger`` + ``OFSTBoolean`` -> ``Integer(Boolean)``, as GDAL's tools print it."""
    name = ogr_type.removeprefix("OFT")
    sub = subtype.removeprefix("OFST")
    return f"{name}({sub})" if sub and sub != "None" else name
