"""Order risk wiring: the score runs on the daily ML job after its dbt features, and the alerts
read it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.config import load_config
from orchestration.definitions import build_definitions
from orchestration.lib.dbt import model_key
from orchestration.lib.keys import ALERTS_KEY, ORDER_RISK_KEY

ROOT = Path(__file__).resolve().parents[2]


def test_order_risk_is_scored_daily_after_its_features_and_feeds_the_alerts():
    defs = build_definitions(load_config(ROOT / "channelhouse.yml"))
    graph = defs.resolve_asset_graph()
    assert model_key("order_risk_features") in graph.get(ORDER_RISK_KEY).parent_keys
    assert ORDER_RISK_KEY in graph.get(ALERTS_KEY).parent_keys
    for job in ("forecast_daily", "forecast_retrain"):
        keys = defs.resolve_job_def(job).asset_layer.executable_asset_keys
        assert ORDER_RISK_KEY in keys, job
    assert isinstance(defs.resolve_assets_def(ORDER_RISK_KEY), dg.AssetsDefinition)
