"""File imports: the inbox sellers drop exports into, as Dagster assets and a sensor.

``<data dir>/inbox/<kind>/…`` (``extractors/inbox/`` says what each kind accepts). The
sensor looks for waiting files every minute and starts ``inbox_import``: the import asset
(each file parsed, landed in the lake once, moved to ``inbox/archive``; a file that cannot be
used goes to ``inbox/quarantine`` with a reason file) and then the warehouse build, so the
marts include the files a few minutes after they were dropped.
"""

import hashlib
from collections import defaultdict

import dagster as dg

from extractors import inbox
from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import warehouse_groups
from orchestration.lib.keys import FILE_KEYS
from orchestration.lib.resources import lake_resource
from orchestration.lib.schedules import WAREHOUSE_WRITER, serving_selection

GROUP = "raw_files"
DESCRIPTIONS = {
    "orders": "Order lines of file channels: inbox/orders/<channel>/ (CSV/TSV/Parquet with a "
    "mapping.yml, Amazon all-orders flat files, Shopify orders CSV exports).",
    "events": "Storefront events (clickstream) from inbox/events/<source>/ (NDJSON/CSV with a "
    "mapping.yml).",
    "reviews": "Product reviews from inbox/reviews/<storefront>/ (Judge.me, Yotpo and Shopify "
    "Product Reviews CSV exports, or any file with a mapping.yml such as an Amazon review file).",
    "product_costs": "Unit costs (COGS) with effective dates from inbox/product_costs/.",
    "sku_mappings": "Manual listing -> product matches from inbox/sku_mappings/.",
    "fx_rates": "Exchange rates in the ECB layout from inbox/fx_rates/; they win over the feed.",
}


def _run_key(pending: list[inbox.PendingFile]) -> str:
    digest = hashlib.sha256()
    for item in sorted(pending, key=lambda p: p.relative):
        digest.update(f"{item.run_key}\n".encode())
    return digest.hexdigest()[:32]


def _metadata(results: list[inbox.ImportResult]) -> dict[str, object]:
    accepted = [r for r in results if r.ok]
    rows = sum(r.rows_written for r in accepted)
    table = "\n".join(
        ["| file | rows | quarantined rows | outcome |", "|---|---|---|---|"]
        + [
            f"| {r.file.relative} | {r.rows_written} | {r.rows_quarantined} | "
            + ("archived" if r.ok else "QUARANTINED: " + (r.reason or "").replace("|", "/")[:300])
            + " |"
            for r in results
        ]
    )
    return {
        "files_imported": len(accepted),
        "files_quarantined": len(results) - len(accepted),
        "rows": rows,
        "quarantined_rows": sum(r.rows_quarantined for r in results),
        "files": dg.MetadataValue.md(table),
        "dagster/row_count": rows,
    }


def inbox_import_asset(config: ChannelHouseConfig) -> dg.AssetsDefinition:
    connections = {conn.name for conn in config.connections}

    @dg.multi_asset(
        name="inbox_files",
        specs=[
            dg.AssetSpec(
                key,
                description=DESCRIPTIONS[kind],
                group_name=GROUP,
                kinds={"parquet", "files"},
                metadata={"inbox": str(config.inbox_dir / kind)},
            )
            for kind, key in FILE_KEYS.items()
        ],
        required_resource_keys={"lake"},
    )
    def _inbox_import(context: dg.AssetExecutionContext):
        # every kind is materialized on every run (with 0 files when none waited): an output
        # left out would make Dagster skip the warehouse build downstream
        results = inbox.import_all(context.resources.lake.root, connections)
        by_kind: dict[str, list[inbox.ImportResult]] = defaultdict(list)
        for result in results:
            by_kind[result.file.kind].append(result)
            name = result.file.relative
            if not result.ok:
                context.log.warning(f"{name} was quarantined: {result.reason}")
            elif result.rows_quarantined:
                context.log.warning(
                    f"{name}: {result.rows_written} rows imported, {result.rows_quarantined} "
                    f"rows quarantined (reasons in {result.quarantine_rows_path})"
                )
        for kind, key in FILE_KEYS.items():
            meta = _metadata(by_kind[kind])
            context.log.info(
                f"{kind}: {meta['files_imported']} files, {meta['rows']} rows imported"
                + (
                    f", {meta['files_quarantined']} files quarantined"
                    if meta["files_quarantined"]
                    else ""
                )
            )
            yield dg.MaterializeResult(asset_key=key, metadata=meta)

    return _inbox_import


# Exchange rates and SKU mappings change old order lines (their base amounts, their product):
# the incremental build only re-merges lines whose orders changed, so these rebuild it all.
REBUILDING_KINDS = ("fx_rates", "sku_mappings")


def inbox_run_config(pending: list[inbox.PendingFile]) -> dict:
    """The dbt steps' config for importing these files: a full rebuild when one of them
    changes history (REBUILDING_KINDS), else the incremental build."""
    if not any(p.kind in REBUILDING_KINDS for p in pending):
        return {}
    full = {"config": {"full_refresh": True}}
    return {"ops": {"warehouse_core": full, "warehouse_analytics": full}}


def inbox_job_and_sensor(config: ChannelHouseConfig, import_asset: dg.AssetsDefinition):
    """``inbox_import`` (the files, then the warehouse build with its checks, then the BI copy)
    and the sensor that starts it."""
    job = dg.define_asset_job(
        name="inbox_import",
        selection=dg.AssetSelection.assets(import_asset)
        | dg.AssetSelection.groups(*warehouse_groups())
        | serving_selection(),
        description="Import the files waiting in the inbox, then build the warehouse.",
        tags=WAREHOUSE_WRITER,
    )

    @dg.sensor(
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts inbox_import when files wait in {config.inbox_dir}.",
    )
    def inbox_sensor(context: dg.SensorEvaluationContext):
        pending = inbox.scan(config.inbox_dir)
        if not pending:
            return dg.SkipReason(f"no files waiting in {config.inbox_dir}")
        # one run per set of waiting files: a file left behind by a failed run starts no
        # new run until it changes or another file arrives
        return dg.RunRequest(
            run_key=_run_key(pending),
            run_config=inbox_run_config(pending),
            tags={"inbox/files": str(len(pending))},
        )

    return job, inbox_sensor


def defs(config: ChannelHouseConfig) -> dg.Definitions:
    files = inbox_import_asset(config)
    job, sensor = inbox_job_and_sensor(config, files)
    return dg.Definitions(
        assets=[files],
        jobs=[job],
        sensors=[sensor],
        resources={"lake": lake_resource(str(config.data_dir))},
    )
