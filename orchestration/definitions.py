"""The single entry point: ``dagster dev`` (workspace.yaml) loads ``defs`` from here.

Everything is built from ``channelhouse.yml`` when Dagster loads the code location (not at
import time): each domain package under ``orchestration/defs/`` builds its own assets,
checks, jobs, schedules, sensors and resources (``defs(config)``); this module merges them
and sets the policies that apply across domains.
"""

from __future__ import annotations

import os

import dagster as dg

from orchestration.config import ChannelHouseConfig, load_config
from orchestration.defs import alerts, inbox, ingest, ml, reports, serving, warehouse
from orchestration.scaleout import executor_for
from orchestration.tenants import TENANT_ENV, tenant_definitions

# A step that still fails after the HTTP layer's own retries (an API down for minutes) is
# tried again later as a whole; partitions are idempotent, so a retry is always safe.
RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def build_definitions(
    config: ChannelHouseConfig, retry_policy: dg.RetryPolicy | None = RETRY_POLICY
) -> dg.Definitions:
    """Every domain's definitions; ``retry_policy`` retries the steps that call an API (the
    raw layer's), the ones a remote outage can fail; steps run on Celery workers when
    ``executor.kind`` is ``celery``."""
    executor = executor_for(config)
    return dg.Definitions.merge(
        dg.Definitions(executor=executor) if executor else dg.Definitions(),
        ingest.defs(config, retry_policy=retry_policy),
        inbox.defs(config),
        warehouse.defs(config),
        ml.defs(config),
        alerts.defs(config),
        serving.defs(config),
        reports.defs(config),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The deployment's definitions; in a tenant's code server (``$CHANNELHOUSE_TENANT``, set
    by orchestration/tenants.py) tagged as that tenant's."""
    definitions = build_definitions(load_config())
    tenant = os.environ.get(TENANT_ENV)
    return tenant_definitions(definitions, tenant) if tenant else definitions
