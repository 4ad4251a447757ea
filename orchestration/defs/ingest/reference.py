"""Reference-data assets: exchange rates for converting order amounts to the base currency.

``raw/reference/fx_rates`` is an unpartitioned snapshot asset: each materialization downloads
the ECB's full-history file and reads the user's rates file (if there is one), landing both
in today's lake partition of channel ``reference`` (connections ``ecb`` and ``file``), then
runs the entity's Great Expectations suite as a blocking check, each connection's partition
on its own (both hold the same keys; the warehouse lets ``file`` win).
"""

import dagster as dg

from extractors import fx
from orchestration.config import ChannelHouseConfig
from orchestration.lib.keys import FX_RATES_KEY
from orchestration.lib.quality import CHECK_NAME, run_suite_per_partition


def _fx_rates_asset(
    config: ChannelHouseConfig, retry_policy: dg.RetryPolicy | None
) -> dg.AssetsDefinition:
    spec = fx.FX_RATES
    stream = fx.STREAMS[spec.name]
    sources = "the ECB feed and the user file" if config.fx.source == "ecb" else "the user file"

    @dg.multi_asset(
        name=f"{fx.CHANNEL}__{stream.name}",
        specs=[
            dg.AssetSpec(
                key=FX_RATES_KEY,
                description=f"ECB euro reference rates (units per 1 EUR) from {sources} "
                f"({config.fx_file_path()}), full history per snapshot. Key: "
                f"{', '.join(spec.key)} per source; the user file wins in the warehouse.",
                group_name=f"raw_{fx.CHANNEL}",
                kinds={"parquet", "ecb"},
                tags={"channel": fx.CHANNEL, "cadence": stream.cadence},
                metadata={
                    "key": list(spec.key),
                    "partition_by": "snapshot",
                    "columns": dg.MetadataValue.table_schema(
                        dg.TableSchema(
                            columns=[dg.TableColumn(f.name, str(f.type)) for f in spec.schema]
                        )
                    ),
                },
            )
        ],
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=FX_RATES_KEY,
                blocking=True,
                description=f"Great Expectations suite raw.{fx.CHANNEL}.{spec.name}",
            )
        ],
        required_resource_keys={"lake"},
        retry_policy=retry_policy,
        op_tags={"channel": fx.CHANNEL},
    )
    def _fx_rates(context: dg.AssetExecutionContext):
        runs = fx.run_fx(config, context.resources.lake.root)
        files = [w.path for run in runs for w in run.writes]
        summary = fx.summarize(files)
        quarantined = sum(run.quarantined for run in runs)
        for note in (note for run in runs for note in run.notes):
            context.log.info(f"fx_rates: {note}")
        if quarantined:
            context.log.warning(f"fx_rates: {quarantined} records quarantined (see quarantine/)")
        base = config.base_currency
        if base != "EUR" and base not in summary.currencies:
            context.log.warning(f"fx_rates: no rate for the base currency {base}")
        meta: dict[str, object] = {
            "rows": summary.rows,
            "rows_by_source": dg.MetadataValue.json(summary.rows_by_source),
            "currencies": dg.MetadataValue.json(summary.currencies),
            "first_rate_date": str(summary.first_rate_date),
            "last_rate_date": str(summary.last_rate_date),
            "quarantined_records": quarantined,
            "bytes": sum(w.bytes for run in runs for w in run.writes),
            "partitions_written": len(files),
            "window": "snapshot",
            "requests": sum(run.stats.requests for run in runs),
            "pages": sum(1 for run in runs for w in run.writes if w.rows),  # files read
            "retries": sum(run.stats.retries for run in runs),
            "throttled": sum(run.stats.throttled for run in runs),
            "wait_seconds": round(sum(run.stats.wait_seconds for run in runs), 2),
            "bytes_received": sum(run.stats.bytes_received for run in runs),
            "extract_seconds": round(sum(run.seconds for run in runs), 2),
            "dagster/row_count": summary.rows,
        }
        if files:
            meta["path"] = dg.MetadataValue.path(str(files[0].parent.parent))
        yield dg.MaterializeResult(asset_key=FX_RATES_KEY, metadata=meta)
        yield run_suite_per_partition(fx.CHANNEL, spec, files, asset_key=FX_RATES_KEY)

    return _fx_rates


def reference_assets(
    config: ChannelHouseConfig, retry_policy: dg.RetryPolicy | None = None
) -> list[dg.AssetsDefinition]:
    return [_fx_rates_asset(config, retry_policy)]
