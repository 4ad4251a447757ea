"""Scheduled reports as Dagster assets: one partitioned asset per configured report
(``reports/<name>``), its job and its schedule (default STOPPED, like the other schedules).

A partition is one reporting period (daily / weekly from Monday / monthly from the 1st, in the
reporting time zone); materializing it (re)writes that period's files under
``<data dir>/exports/<report>/<period label>/`` atomically and e-mails them if configured
(reports.runner). The schedule fires at the report's configured time and requests the last
complete period's partition.
"""

import base64
from datetime import timedelta
from pathlib import Path

import dagster as dg

from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import model_key
from orchestration.lib.keys import PYTHON_TABLE_KEYS
from orchestration.lib.resources import WarehouseResource, shared_resources
from reports import data
from reports.periods import period_for_partition, period_for_run
from reports.runner import ReportDeliveryError, build_report, limit_memory
from reports.settings import WEEKDAYS, ReportDefinition, ReportsSettings

GROUP = "reports"
# "schema.table" -> asset key of the tables Python assets write (the others are dbt models)
_PYTHON_TABLES = {".".join(key.path): key for key in PYTHON_TABLE_KEYS}


def report_asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["reports", name])


def _deps(report: ReportDefinition) -> list[dg.AssetKey]:
    tables = set(data.SUMMARY_DEPS) if "pdf" in report.formats else set()
    for name in report.extracts:
        tables.update(data.EXTRACTS[name].deps)
    keys = {_PYTHON_TABLES.get(t) or model_key(t.split(".")[1]) for t in tables}
    return sorted(keys, key=lambda k: k.to_user_string())


def _partitions(report: ReportDefinition, config: ChannelHouseConfig):
    start = config.sync.history_start
    tz = config.reporting_timezone
    if report.cadence == "daily":
        return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone=tz)
    if report.cadence == "weekly":
        monday = start + timedelta(days=(7 - start.weekday()) % 7)
        return dg.WeeklyPartitionsDefinition(
            start_date=monday.isoformat(), day_offset=1, timezone=tz
        )
    first = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return dg.MonthlyPartitionsDefinition(start_date=first.isoformat(), day_offset=1, timezone=tz)


def _cron(report: ReportDefinition) -> str:
    if report.cadence == "daily":
        return f"{report.minute} {report.hour} * * *"
    if report.cadence == "weekly":
        cron_day = (WEEKDAYS.index(report.weekday) + 1) % 7  # cron: 0 = Sunday
        return f"{report.minute} {report.hour} * * {cron_day}"
    return f"{report.minute} {report.hour} {report.day_of_month} * *"


def _kinds(report: ReportDefinition) -> set[str]:
    kinds = {"duckdb"}
    if "pdf" in report.formats:
        kinds.add("pdf")
    if "xlsx" in report.formats:
        kinds.add("excel")
    return kinds


def _image_md(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def _read_only(warehouse: WarehouseResource, config: ChannelHouseConfig):
    """The serving copy when there is one (a report never waits for, or blocks, a build that
    holds the warehouse), else the warehouse itself, read-only."""
    copy = config.serving.copy_target(config.data_dir)
    if config.serving.copy_enabled and copy.exists():
        import duckdb

        return duckdb.connect(str(copy), read_only=True)
    return warehouse.read_only()


def _report_asset(report: ReportDefinition, settings: ReportsSettings, config: ChannelHouseConfig):
    partitions = _partitions(report, config)
    recipients = settings.recipients(report)

    @dg.asset(
        key=report_asset_key(report.name),
        partitions_def=partitions,
        deps=_deps(report),
        group_name=GROUP,
        kinds=_kinds(report),
        description=f"{report.display_title}: {report.cadence} report"
        f" ({', '.join(report.formats)}; extracts: {', '.join(report.extracts) or 'none'})"
        f" written to <data dir>/exports/{report.name}/<period>/"
        + (f", e-mailed to {len(recipients)} recipient(s)." if recipients else "."),
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        period = period_for_partition(report.cadence, context.partition_time_window.start.date())
        with _read_only(warehouse, config) as con:
            limit_memory(con, settings)
            try:
                result = build_report(
                    con,
                    report,
                    settings,
                    period,
                    Path(warehouse.data_dir) / "exports",
                    base_currency=config.base_currency,
                    timezone=config.reporting_timezone,
                )
            except ReportDeliveryError as exc:
                raise dg.Failure(str(exc)) from None
        files = {
            name: dg.MetadataValue.path(str(path)) for name, path in sorted(result.files.items())
        }
        metadata: dict[str, object] = {
            "period": period.label,
            "directory": dg.MetadataValue.path(str(result.directory)),
            "files": dg.MetadataValue.json(
                {name: path.stat().st_size for name, path in sorted(result.files.items())}
            ),
            "summary": dg.MetadataValue.text(result.summary),
            "rows": dg.MetadataValue.json(result.rows),
            "emailed_to": len(result.emailed_to),
            **files,
        }
        if result.pages:
            metadata["pdf_pages"] = result.pages
        if result.preview_png is not None:
            metadata["preview"] = dg.MetadataValue.md(_image_md(result.preview_png, "revenue"))
        return dg.MaterializeResult(metadata=metadata)

    return _asset, partitions


def _schedule(report: ReportDefinition, job, config: ChannelHouseConfig):
    @dg.schedule(
        job=job,
        cron_schedule=_cron(report),
        name=f"report_{report.name}_schedule",
        execution_timezone=config.reporting_timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _report_schedule(context: dg.ScheduleEvaluationContext):
        moment = context.scheduled_execution_time
        if moment is None:
            raise dg.Failure("report schedules need a scheduled execution time")
        period = period_for_run(report.cadence, moment, config.reporting_timezone)
        if period.start < config.sync.history_start:
            return dg.SkipReason(
                f"period {period.label} starts before sync.history_start"
                f" ({config.sync.history_start}); nothing to report"
            )
        key = period.start.isoformat()
        return dg.RunRequest(run_key=f"{report.name}:{key}", partition_key=key)

    return _report_schedule


def report_definitions(config: ChannelHouseConfig):
    """(assets, jobs, schedules) of the reports configured in ``config.reports``."""
    settings = config.reports
    assets, jobs, schedules = [], [], []
    for report in settings.definitions:
        asset, partitions = _report_asset(report, settings, config)
        job = dg.define_asset_job(
            f"report_{report.name}",
            selection=[report_asset_key(report.name)],
            partitions_def=partitions,
            description=f"Build the {report.display_title} for one period.",
        )
        assets.append(asset)
        jobs.append(job)
        schedules.append(_schedule(report, job, config))
    return assets, jobs, schedules


def defs(config: ChannelHouseConfig) -> dg.Definitions:
    assets, jobs, schedules = report_definitions(config)
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        resources={"warehouse": shared_resources(config)["warehouse"]},
    )
