"""Lanes: one module per lane on one runner template; see docs/architecture.md.

- :mod:`~etl_pipeline.lanes.declaration`: what a lane declares and the steps it implements.
- :mod:`~etl_pipeline.lanes.template`: the runner every lane uses.
- :mod:`~etl_pipeline.lanes.publish`: dedupe and publish, shared by every lane.
- :mod:`~etl_pipeline.lanes.registry`: the list of lanes everything else derives from.
- one module per lane: :mod:`~etl_pipeline.lanes.spatial`, :mod:`~etl_pipeline.lanes.tabular`,
  :mod:`~etl_pipeline.lanes.join`, :mod:`~etl_pipeline.lanes.legacy`.
"""

from etl_pipeline.lanes.batch import BatchRun, Services, begin
from etl_pipeline.lanes.contract import TARGET_CRS, LaneError, LaneResult, QualityFacts
from etl_pipeline.lanes.template import run_batch, run_lane

__all__ = [
    "TARGET_CRS",
    "BatchRun",
    "LaneError",
    "LaneResult",
    "QualityFacts",
    "Services",
    "begin",
    "run_batch",
    "run_lane",
]
