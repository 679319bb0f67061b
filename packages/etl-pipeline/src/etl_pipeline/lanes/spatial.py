"""The spatial lane: vector files -> PostGIS (load, recipe) -> GeoParquet 1.1 in EPSG:4326;
rasters -> validated Cloud-Optimized GeoTIFF (intents ``ingest_vector``, ``ingest_raster``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from etl_pipeline.lanes.contract import LaneOutput, OutputFormat, QualityFacts, columns_of
from etl_pipeline.lanes.declaration import SPATIAL_CHECKS, FileFormats, Lane, LaneSteps, Work
from etl_pipeline.lanes.vector_integrity import (
    check_corrupt_rows,
    check_output_range,
    vector_warnings,
)
from etl_pipeline.stac import COG_MEDIA_TYPE, GEOPARQUET_MEDIA_TYPE
from etl_transforms.raster import RasterOptions
from etl_transforms.registry import make_recipe
from etl_transforms.vector import VectorSteps as VectorRecipeParams

if TYPE_CHECKING:
    from etl_storage.object_store import ObjectStore

GEOPARQUET = OutputFormat("data.parquet", GEOPARQUET_MEDIA_TYPE, "geoparquet")
COG = OutputFormat("data.tif", COG_MEDIA_TYPE, "cog")


# --- vector ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VectorState:
    loaded: Any  # etl_spatial.loader.LoadResult
    transform: Any = None  # etl_transforms.vector.TransformReport


def vector_gdal_path(store: ObjectStore, key: str) -> str:
    """GDAL path of a raw vector file; a zip (zipped shapefile) is read through ``/vsizip/``."""
    path = store.vsis3_path(key)
    return f"/vsizip/{path}" if key.lower().endswith(".zip") else path


# Formats GDAL reads more than once or out of order, so a local copy beats reading in place:
# SQLite pages of a GeoPackage over ``/vsis3/`` cost a range request per few pages (1M points
# loaded 3-5x slower than download + local read); a GeoJSON or CSV is read whole by the
# inspection, then twice by ogr2ogr (schema pass, then rows): three transfers of a 2 GB file.
DOWNLOADED_DRIVERS = frozenset({"GPKG", "GeoJSON", "CSV"})


def local_or_vsis3(work: Work, index: int, key: str, format_: str | None) -> str:
    """Where GDAL reads raw file ``key``: formats in :data:`DOWNLOADED_DRIVERS` are downloaded
    (streamed, bounded memory) into the run's temporary directory first; the others
    (FlatGeobuf, made for range reads; zips, read through ``/vsizip/``) stream from S3. The
    copy lives in the run's directory, removed on every exit path."""
    from etl_spatial.vector_source import FORMAT_DRIVERS

    store = work.run.services.store
    driver = FORMAT_DRIVERS.get((format_ or "").strip().lower())
    if driver not in DOWNLOADED_DRIVERS or key.lower().endswith(".zip"):
        return vector_gdal_path(store, key)
    local = work.tmp / "sources" / f"{index}-{PurePosixPath(key).name}"
    local.parent.mkdir(exist_ok=True)
    store.download_from_landing(key, local)
    return str(local)


class VectorSteps(LaneSteps[VectorState]):
    kind = "vector"
    output = GEOPARQUET
    uses_postgis = True

    def load(self, work: Work) -> VectorState:
        from etl_spatial.gdal import timeout_for_size
        from etl_spatial.loader import VectorSource, load_vector

        run, manifest = work.run, work.manifest
        sources = [
            VectorSource(
                path=local_or_vsis3(work, i, f.key, f.format),
                format=f.format,
                layer=f.layer,
                member=f.member,
                label=f"files[{i}] ({f.path})",
                x_column=f.options.x_column if f.options else None,
                y_column=f.options.y_column if f.options else None,
                wkt_column=f.options.wkt_column if f.options else None,
                encoding=f.options.encoding if f.options else None,
                delimiter=f.options.delimiter if f.options else None,
            )
            for i, f in enumerate(manifest.files)
        ]
        loaded = load_vector(
            run.services.postgis,
            work.schema,
            sources,
            gdal_env=run.services.gdal_env(),
            declared_crs=[f.crs for f in manifest.files],
            keep_source_names=work.recipe.params.keep_source_names,
            # A 50 GB source must not hit a limit sized for a small one.
            timeout=timeout_for_size(sum(i.size for i in work.provenance.inputs)),
            workdir=work.tmp,  # UTF-8 copies of files with another declared encoding
        )
        run.log(f"loaded {loaded.row_count} features ({loaded.source_crs})")
        return VectorState(loaded)

    def compute(self, work: Work, state: VectorState) -> VectorState:
        from etl_transforms.vector import apply_vector_steps

        recipe = work.recipe
        with work.schema.connect() as conn:
            transform = apply_vector_steps(conn, work.schema, recipe.params)
            conn.commit()
        work.run.log(
            f"recipe {recipe.name} v{recipe.version}: {transform.rows_out} rows, "
            f"{transform.repaired_count} repaired, {transform.dropped_empty_count} empty dropped, "
            f"{transform.corrupt_count} corrupt dropped, {transform.wrapped_count} wrapped"
        )
        # Before anything is exported: no row lost unseen, no impossible coordinate published.
        files = state.loaded.files
        check_corrupt_rows(files, transform)
        check_output_range(files, transform, crs_declared=bool(state.loaded.crs_declared))
        return VectorState(state.loaded, transform)

    def export(self, work: Work, state: VectorState) -> LaneOutput:
        from etl_spatial.geoparquet_stream import export_geoparquet

        loaded, transform = state.loaded, state.transform
        # The recipe tested every line and polygon in its final shape with GEOS: no second
        # validity pass over all rows in the export when it says how many are invalid.
        known_invalid = transform.output_invalid_count
        # Streamed and sorted in PostGIS: the run worker never holds the table.
        written = export_geoparquet(
            work.run.services.postgis,
            work.schema,
            "transformed",
            work.output_path,
            extent=transform.bbox,  # known from the recipe: no extra scan for the sort key
            check_validity=known_invalid is None,
        )
        meta = written.metadata
        quality = QualityFacts(
            crs=meta.crs,
            output_rows=meta.row_count,
            source_rows=sum(int(f["feature_count"]) for f in loaded.files),
            dropped_rows=transform.collapsed_count,
            corrupt_rows=transform.corrupt_count,
            invalid_geometries=written.invalid_geometries + (known_invalid or 0),
            empty_geometries=written.empty_geometries + written.null_geometries,
        )
        report = {
            "load": {
                "files": loaded.files,
                "source_crs": loaded.source_crs,
                "crs_declared": loaded.crs_declared,
                "promoted_to_multi": loaded.promoted_to_multi,
            },
            "transform": transform.model_dump(mode="json"),
        }
        return LaneOutput(
            path=work.output_path,
            row_count=meta.row_count,
            bounds=meta.bounds,
            crs=meta.crs,
            source_crs=transform.source_crs or loaded.source_crs,
            geometry_types=meta.geometry_types,
            columns=columns_of(meta.column_schema, loaded.source_names),
            quality=quality,
            report=report,
        )

    def warnings(self, work: Work, output: LaneOutput) -> list[str]:
        return vector_warnings(output.report.get("transform", {}))


# --- raster ---------------------------------------------------------------------------------


class RasterSteps(LaneSteps[Any]):
    kind = "raster"
    output = COG

    def load(self, work: Work) -> str:
        """Rasters are read where they lie (``/vsis3/``): nothing to load."""
        return work.run.services.store.vsis3_path(work.manifest.files[0].key)

    def export(self, work: Work, state: str) -> LaneOutput:
        from etl_models.ledger_records import ColumnInfo
        from etl_transforms.raster import raster_to_lake_cog

        source = work.manifest.files[0]
        meta = raster_to_lake_cog(
            state,
            work.output_path,
            work.recipe.params,
            work.run.services.gdal_env(),
            declared_crs=source.crs,
            label=f"files[0] ({source.path})",
        )
        work.run.log(
            f"COG {meta.width}x{meta.height}x{meta.band_count}, {meta.overview_count} overviews"
        )
        bands = [ColumnInfo(name=f"band_{i + 1}", type=t) for i, t in enumerate(meta.data_types)]
        return LaneOutput(
            path=work.output_path,
            row_count=None,
            bounds=meta.bounds,
            crs=meta.crs,
            source_crs=meta.source_crs,
            geometry_types=[],
            columns=bands,
            quality=QualityFacts(crs=meta.crs, output_rows=0, source_rows=None, kind="raster"),
            report={"raster": meta.model_dump(mode="json")},
        )


# --- file types and their formats -----------------------------------------------------------

VECTOR_FORMATS = FileFormats(
    aliases={
        "geojson": "GeoJSON",
        "json": "GeoJSON",
        "gpkg": "GPKG",
        "geopackage": "GPKG",
        "esri shapefile": "ESRI Shapefile",
        "shapefile": "ESRI Shapefile",
        "shp": "ESRI Shapefile",
        "zip": "ESRI Shapefile",  # zipped shapefile, read through /vsizip/
        "flatgeobuf": "FlatGeobuf",
        "fgb": "FlatGeobuf",
        "csv": "CSV",
    },
    extensions={
        ".geojson": "GeoJSON",
        ".json": "GeoJSON",
        ".gpkg": "GPKG",
        ".shp": "ESRI Shapefile",
        ".zip": "ESRI Shapefile",
        ".fgb": "FlatGeobuf",
        ".csv": "CSV",  # points with coordinate or WKT columns
        ".tsv": "CSV",
        ".txt": "CSV",
    },
)
RASTER_FORMATS = FileFormats(
    aliases={
        "gtiff": "GTiff",
        "geotiff": "GTiff",
        "tif": "GTiff",
        "tiff": "GTiff",
        "cog": "GTiff",
        "jp2openjpeg": "JP2OpenJPEG",
        "jp2": "JP2OpenJPEG",
        "png": "PNG",
        "jpeg": "JPEG",
        "jpg": "JPEG",
        "hfa": "HFA",
        "img": "HFA",
        "aaigrid": "AAIGrid",
        "asc": "AAIGrid",
        "netcdf": "netCDF",
        "nc": "netCDF",
    },
    extensions={
        ".tif": "GTiff",
        ".tiff": "GTiff",
        ".jp2": "JP2OpenJPEG",
        ".png": "PNG",
        ".jpg": "JPEG",
        ".jpeg": "JPEG",
        ".img": "HFA",
        ".asc": "AAIGrid",
        ".nc": "netCDF",
    },
    max_files_per_batch=1,  # one raster is one COG
)
FILE_FORMATS = {"vector": VECTOR_FORMATS, "raster": RASTER_FORMATS}

STEPS = {"vector": VectorSteps(), "raster": RasterSteps()}

LANE = Lane(
    name="spatial",
    description=(
        "One version of a spatial dataset per batch: vector files loaded into PostGIS, "
        "repaired and reprojected to EPSG:4326, written as GeoParquet 1.1; rasters as COG."
    ),
    code_location="asset_lanes",
    sensor="spatial_sensor",
    job="spatial_asset_job",
    asset="raw_spatial_asset",
    asset_kinds=frozenset({"postgis", "geoparquet", "cog"}),
    recipes={
        "ingest_vector": make_recipe(
            "vector_to_geoparquet",
            "vector",
            VectorRecipeParams(),
            "reproject to EPSG:4326, repair invalid, drop empty, promote to Multi*",
        ),
        "ingest_raster": make_recipe(
            "raster_to_cog",
            "raster",
            RasterOptions(),
            "COG with internal overviews, nodata kept, CRS kept unless target_crs is set",
        ),
    },
    steps=STEPS,
    file_formats=FILE_FORMATS,
    checks=SPATIAL_CHECKS,
)
