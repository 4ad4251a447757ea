"""Alerts: rules (frames -> candidates), state (candidates -> alerts table), delivery (-> log).

Plain Python over polars frames; no Dagster, no warehouse access. The wiring reads the marts,
calls ``build_candidates`` (or the single rules), ``merge_alerts`` and ``deliver_alerts``, and
persists the alerts table and the deliveries log it gets back.
"""

from alerting.delivery import DELIVERY_LOG_SCHEMA, deliver_alerts, plan_deliveries
from alerting.rules import CANDIDATE_SCHEMA, build_candidates
from alerting.settings import AlertingSettings, AlertRuleSettings, DeliverySettings
from alerting.state import ALERTS_SCHEMA, merge_alerts

__all__ = [
    "ALERTS_SCHEMA",
    "CANDIDATE_SCHEMA",
    "DELIVERY_LOG_SCHEMA",
    "AlertRuleSettings",
    "AlertingSettings",
    "DeliverySettings",
    "build_candidates",
    "deliver_alerts",
    "merge_alerts",
    "plan_deliveries",
]
