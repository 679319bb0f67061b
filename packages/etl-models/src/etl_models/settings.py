"""Connection settings from environment variables.

One place reads the environment; resources and scripts take these objects. Secrets are
``SecretStr`` so they never appear in reprs or logs.
"""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LANDING_BUCKET = "landing-zone"
LAKE_BUCKET = "data-lake"
LEDGER_DATABASE = "spatial_etl"
COMPUTE_DATABASE = "spatial_compute"
DEFAULT_HEAVY_BATCH_MB = 100.0

_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


class _EnvSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)


class ObjectStoreSettings(_EnvSettings):
    """MinIO / S3: ``MINIO_ENDPOINT`` is ``host:port`` without a scheme."""

    endpoint: str = Field("127.0.0.1:9000", validation_alias="MINIO_ENDPOINT")
    access_key: str = Field("minioadmin", validation_alias="MINIO_ROOT_USER")
    secret_key: SecretStr = Field(SecretStr("minioadmin"), validation_alias="MINIO_ROOT_PASSWORD")
    secure: bool = Field(False, validation_alias="MINIO_SECURE")
    region: str = Field("us-east-1", validation_alias="MINIO_REGION")
    landing_bucket: str = Field(LANDING_BUCKET, validation_alias="LANDING_BUCKET")
    lake_bucket: str = Field(LAKE_BUCKET, validation_alias="LAKE_BUCKET")

    @field_validator("endpoint")
    @classmethod
    def _host_port_without_scheme(cls, value: str) -> str:
        if "://" in value or not _HOST_PORT.match(value):
            raise ValueError(
                f"MINIO_ENDPOINT must be host:port without a scheme (got {value!r}); "
                "e.g. MINIO_ENDPOINT=127.0.0.1:9000 and MINIO_SECURE=true for TLS"
            )
        return value


class LedgerSettings(_EnvSettings):
    """MongoDB ledger."""

    connection_string: SecretStr = Field(
        SecretStr("mongodb://127.0.0.1:27017"), validation_alias="MONGO_CONNECTION_STRING"
    )
    database: str = Field(LEDGER_DATABASE, validation_alias="MONGO_DATABASE")


class PostgisSettings(_EnvSettings):
    """PostGIS transient compute database."""

    host: str = Field("127.0.0.1", validation_alias="POSTGRES_HOST")
    port: int = Field(5432, validation_alias="POSTGRES_PORT")
    user: str = Field("postgres", validation_alias="POSTGRES_USER")
    password: SecretStr = Field(SecretStr(""), validation_alias="POSTGRES_PASSWORD")
    database: str = Field(COMPUTE_DATABASE, validation_alias="POSTGRES_DB")


class RouterSettings(_EnvSettings):
    """Routing of manifests to runs: which lanes the legacy sensor may launch (unset =
    ``ingest``) and the size from which a batch runs as heavy."""

    enabled_lanes_raw: str | None = Field(None, validation_alias="MANIFEST_ROUTER_ENABLED_LANES")
    # Batches whose raw files total at least this many MB run as "heavy" (limited to a few at
    # once by the instance); smaller ones use every run slot. See etl_models.intake.TAG_WEIGHT.
    heavy_batch_mb: float = Field(
        DEFAULT_HEAVY_BATCH_MB, gt=0, validation_alias="ETL_HEAVY_BATCH_MB"
    )

    @property
    def enabled_lane_names(self) -> frozenset[str]:
        """The lane names listed (comma list, case-insensitive; unset or blank = ``ingest``).
        Which names exist is the lane registry's to check (``etl_pipeline.lanes.registry``)."""
        raw = self.enabled_lanes_raw
        if raw is None or not raw.strip():
            return frozenset({"ingest"})
        return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
