"""The modelled wall time of a two-year initial Shopify sync, bulk operation vs paginated
GraphQL, under Shopify's published limits (``python -m bench.shopify_bulk``; ``make bench``
runs it too).

Both paths really run, over the last ``SAMPLE_DAYS`` days of each demo store (sandbox in this
process, "fast" profile, so the run itself takes seconds); what they did is counted (requests,
points requested and actually charged, bulk objects) and scaled to two years by the ratio of
the store's orders updated in two years to those in the sample. The wall time at Shopify is
then modelled, not measured (the sandbox cannot stand in for Shopify's servers):

* points: Standard plan, restore ``RESTORE_RATE`` points/s into a ``BUCKET``-point bucket
  (reference B.3). The client waits before each query until the bucket holds the query's
  requested cost and is charged its actual cost, so a long sync is bound by
  (actual points − one full bucket) / restore rate;
* plus ``LATENCY_S`` per request (an assumed round trip to Shopify; loopback is no guide);
* bulk: plus the operation's own time, as the sandbox's realistic profile models it
  (``sandbox/shopify/bulk.py``: created 1 s, running 2 s + objects / 1000 per second — an
  assumption, Shopify publishes no throughput) and the download at ``DOWNLOAD_MB_S``.

The two stores have separate buckets, so they sync in parallel: the pair takes as long as the
slower store.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import yaml

from extractors.base import Window
from extractors.shopify import ShopifyExtractor
from orchestration.config import parse_config, resolve_secrets
from sandbox.server import SandboxServer, sandbox_environment
from sandbox.shopify import bulk as sandbox_bulk

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SAMPLE_DAYS = 90
HISTORY_DAYS = 730
RESTORE_RATE = 100.0  # points per second, Standard plan (current shopify.dev figure)
BUCKET = 1000.0
LATENCY_S = 0.3
DOWNLOAD_MB_S = 10.0


def _config(data_dir: Path, port: int) -> dict:
    raw = yaml.safe_load((ROOT / "channelhouse.yml").read_text())
    raw["data_dir"] = str(data_dir)
    raw["sandbox"] = {**raw.get("sandbox", {}), "port": port, "scale": 1.0}
    return raw


def _sample(extractor: ShopifyExtractor, window: Window, bulk_days: int) -> dict:
    extractor.conn = extractor.conn.model_copy(update={"bulk_history_days": bulk_days})
    result = extractor.extract("orders", window)
    return {
        "orders": len(result.rows.get("orders", [])),
        "requests": result.stats.requests,
        "queries": extractor.client.costs.queries,
        "points_requested": extractor.client.costs.requested,
        "points_actual": extractor.client.costs.actual,
        "bytes": result.stats.bytes_received,
    }


def _modelled(sample: dict, factor: float, objects: int | None) -> dict:
    """The two-year figures and the modelled seconds (see the module's docstring)."""
    requests = sample["requests"] * factor
    points = sample["points_actual"] * factor
    seconds = max(0.0, points - BUCKET) / RESTORE_RATE + requests * LATENCY_S
    row = {
        "requests": round(requests),
        "points_actual": round(points),
        "points_s": round(max(0.0, points - BUCKET) / RESTORE_RATE, 1),
        "latency_s": round(requests * LATENCY_S, 1),
    }
    if objects is not None:
        total = objects * factor
        operation = (
            sandbox_bulk.CREATED_S
            + sandbox_bulk.RUNNING_BASE_S
            + total / sandbox_bulk.OBJECTS_PER_S
        )
        download = sample["bytes"] * factor / 1e6 / DOWNLOAD_MB_S
        row |= {
            "objects": round(total),
            "operation_s": round(operation, 1),
            "download_s": round(download, 1),
        }
        seconds += operation + download
    return row | {"modelled_s": round(seconds, 1)}


def shopify_bulk() -> dict:
    """Measure both paths on each demo store and model the two-year sync; write the results."""
    print("Shopify two-year sync, bulk vs paginated (modelled at the published limits):")
    os.environ.update(sandbox_environment())
    rows = []
    with SandboxServer(port=0, scale=1.0) as server, tempfile.TemporaryDirectory() as tmp:
        config = parse_config(_config(Path(tmp), server.port), "bench")
        now = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
        server.state.clock = lambda: now
        window = Window(now - timedelta(days=SAMPLE_DAYS), now)
        for conn in (c for c in config.connections if c.channel == "shopify"):
            extractor = ShopifyExtractor(conn, resolve_secrets(conn), sandbox_url=server.url)
            paged = _sample(extractor, window, SAMPLE_DAYS)
            bulk = _sample(extractor, window, SAMPLE_DAYS - 1)
            account = {"channelhouse-demo": "shopify_us", "channelhouse-eu": "shopify_eu"}[
                conn.shop
            ]
            updated = server.state.business.orders_view(now).filter(pl.col("account") == account)[
                "last_updated_at"
            ]
            two_years = int((updated >= now - timedelta(days=HISTORY_DAYS)).sum())
            factor = two_years / max(1, paged["orders"])
            objects = _bulk_objects(extractor)
            row = {
                "connection": conn.name,
                "sample_days": SAMPLE_DAYS,
                "sample": {"paginated": paged, "bulk": bulk | {"objects": objects}},
                "orders_two_years": two_years,
                "factor": round(factor, 2),
                "paginated": _modelled(paged, factor, None),
                "bulk": _modelled(bulk, factor, objects),
            }
            row["speedup"] = round(row["paginated"]["modelled_s"] / row["bulk"]["modelled_s"], 1)
            rows.append(row)
            print(
                f"  {conn.name}: two years ≈ {two_years} orders; paginated "
                f"{row['paginated']['modelled_s']:.0f} s, bulk {row['bulk']['modelled_s']:.0f} s "
                f"({row['speedup']}×)",
                flush=True,
            )
    both = {path: max(r[path]["modelled_s"] for r in rows) for path in ("paginated", "bulk")}
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": __doc__.split("\n\n", 2)[2].strip(),
        "restore_rate_points_s": RESTORE_RATE,
        "bucket_points": BUCKET,
        "latency_s": LATENCY_S,
        "stores": rows,
        "both_stores_s": both,
        "speedup": round(both["paginated"] / both["bulk"], 1),
    }
    _write(result)
    return result


def _bulk_objects(extractor: ShopifyExtractor) -> int:
    """The objectCount of the store's latest bulk operation (the sample's), as Shopify says."""
    current = extractor.client.query(
        "{ currentBulkOperation { objectCount } }", {}, "bulk", ("currentBulkOperation",)
    )
    return int(current["objectCount"])


def _write(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "shopify_bulk.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Shopify history sync: bulk operation vs paginated GraphQL (modelled)",
        "",
        f"Measured {result['measured_at']}: a real {SAMPLE_DAYS}-day extraction of each demo "
        f"store by both paths, scaled to {HISTORY_DAYS} days and modelled at Shopify's published "
        f"limits ({RESTORE_RATE:.0f} points/s, {BUCKET:.0f}-point bucket) with "
        f"{LATENCY_S} s a request.",
        "",
        "| store | orders (2 y) | path | requests | points charged | points s | latency s "
        "| operation s | download s | modelled s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["stores"]:
        for path in ("paginated", "bulk"):
            m = r[path]
            lines.append(
                f"| {r['connection']} | {r['orders_two_years']} | {path} | {m['requests']} | "
                f"{m['points_actual']} | {m['points_s']} | {m['latency_s']} | "
                f"{m.get('operation_s', '')} | {m.get('download_s', '')} | {m['modelled_s']} |"
            )
    both = result["both_stores_s"]
    lines += [
        "",
        f"Both stores (separate buckets, in parallel): paginated {both['paginated']:.0f} s, "
        f"bulk {both['bulk']:.0f} s — **{result['speedup']}× faster**.",
        "",
        "How it is modelled:",
        "",
        result["model"],
    ]
    (RESULTS / "shopify_bulk.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    shopify_bulk()
