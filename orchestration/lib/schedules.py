"""What every domain's jobs and schedules share: STOPPED UTC schedules, the partition-range
tags of a ranged run, and the tag that queues the DuckDB writers."""

import dagster as dg

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# Jobs that write the DuckDB file (one writer at a time): a run coordinator limit on this tag
# (tag_concurrency_limits in dagster.yaml) queues the second instead of failing on the lock.
WAREHOUSE_WRITER = {"channelhouse/warehouse": "writer"}
# every job that changes the public marts refreshes what BI tools read, in the same run
SERVING_GROUP = "serving"


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    return {RANGE_START: first, RANGE_END: last}


def stopped_schedule(job, cron: str) -> dg.ScheduleDefinition:
    """A UTC schedule of ``job``, STOPPED until a user turns it on (every schedule here)."""
    return dg.ScheduleDefinition(
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


def serving_selection() -> dg.AssetSelection:
    """The serving assets (BI copy, publication), whichever of them are configured."""
    return dg.AssetSelection.groups(SERVING_GROUP)
