"""The pipeline's view of the harness: the three resources as lane ``Services``."""

from __future__ import annotations

import pytest

from etl_pipeline.lanes import Services


@pytest.fixture
def services(store, ledger, postgis) -> Services:
    return Services(store=store, ledger=ledger, postgis=postgis)
