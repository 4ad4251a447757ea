"""Storefront events (``inbox/events/<source>/``, NDJSON or CSV) to the ``events`` entity.

The folder's ``mapping.yml`` (:class:`EventsMapping`) says where each field is (a CSV header, or
a JSON key; nested keys as a dotted path such as ``properties.sku``) and which event names are
which funnel step.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, model_validator

from extractors.inbox.common import (
    FileRejected,
    Parsed,
    RawTable,
    decode,
    gunzip_if_needed,
    load_mapping,
    mapped_columns,
    read_delimited,
    select_rows,
)
from extractors.inbox.schemas import EVENTS, EXPERIMENT_UNITS, FUNNEL_STEPS
from extractors.inbox.settings import FileSettings, Strict, file_format
from extractors.inbox.values import CellError, as_text, parse_currency

FunnelStep = Literal["page_view", "product_view", "add_to_cart", "checkout", "purchase"]
EVENT_FORMATS = {".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson", ".csv": "csv"}

EXAMPLE_MAPPING = """\
    format: ndjson               # ndjson (.ndjson/.jsonl/.json, optionally .gz) | csv
    channel: shopify             # default: the folder name
    storefront_id: shopify_us    # default: the folder name
    timestamp_format: iso
    columns:                     # <field>: <CSV header or JSON key; nested: properties.sku>
      event_id: id
      anonymous_id: anonymousId
      user_id: userId
      event_name: event
      occurred_at: timestamp
      sku: properties.sku
      value: properties.value
      currency: properties.currency
      order_id: properties.order_id
      page_url: context.page.url
      scroll_depth: properties.scroll_depth   # optional: how far down the page, 0-100 (%)
      experiment_id: properties.experiment_id   # A/B-test exposures (optional): experiment,
      variant: properties.variant               #   variant and, optionally, the unit
    experiment_unit: visitor     # what an exposure randomises: visitor | customer (user_id)
    funnel_steps:                # <event name in the file>: page_view | product_view |
      page_viewed: page_view     #   add_to_cart | checkout | purchase
      product_viewed: product_view
      product_added_to_cart: add_to_cart
      checkout_started: checkout
      checkout_completed: purchase"""


class EventColumns(Strict):
    event_id: str | None = None
    anonymous_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    event_name: str
    occurred_at: str
    sku: str | None = None
    quantity: str | None = None
    value: str | None = None
    currency: str | None = None
    order_id: str | None = None
    page_url: str | None = None
    scroll_depth: str | None = None  # how far down the page, 0-100 (%)
    referrer: str | None = None
    traffic_source: str | None = None
    channel: str | None = None
    storefront_id: str | None = None
    experiment_id: str | None = None
    variant: str | None = None
    experiment_unit: str | None = None

    @model_validator(mode="after")
    def _visitor(self) -> EventColumns:
        if self.anonymous_id is None and self.user_id is None:
            raise ValueError("columns: map anonymous_id or user_id (or both): who did the event")
        return self

    @model_validator(mode="after")
    def _exposure(self) -> EventColumns:
        exposure = {"experiment_id": self.experiment_id, "variant": self.variant}
        mapped = [k for k, v in exposure.items() if v is not None]
        if len(mapped) == 1:
            missing = "variant" if mapped == ["experiment_id"] else "experiment_id"
            raise ValueError(
                f"columns: {mapped[0]} is mapped but {missing} is not: an experiment exposure "
                "needs both the experiment and the variant the unit saw"
            )
        if self.experiment_unit is not None and not mapped:
            raise ValueError("columns: experiment_unit is mapped without experiment_id/variant")
        return self


class EventsMapping(FileSettings):
    """``inbox/events/<source>/mapping.yml``."""

    format: Literal["ndjson", "csv"] | None = None
    channel: str | None = Field(None, description="default: the folder name")
    storefront_id: str | None = Field(None, description="default: the folder name")
    funnel_steps: dict[str, FunnelStep] = Field(default_factory=dict)
    experiment_unit: Literal["visitor", "customer"] = Field(
        "visitor", description="the unit of an exposure without its own experiment_unit column"
    )
    columns: EventColumns


def _path_value(record: Any, path: str) -> Any:
    """``record[path]``, else the dotted path walked through nested objects; None if absent."""
    if not isinstance(record, dict):
        return None
    if path in record:
        return record[path]
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def read_ndjson(
    text: str, paths: dict[str, str], where: str
) -> tuple[RawTable, list[str], list[tuple[str, dict]]]:
    """JSON objects one per line (or a JSON array of objects) -> a table of the mapped paths,
    each row's original text, and the lines that are not JSON objects (reason, record)."""
    stripped = text.lstrip()
    rows: list[tuple[int, Any, str]] = []
    bad: list[tuple[str, dict]] = []
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise FileRejected(
                f"the file starts like a JSON array but is not valid JSON ({exc})"
            ) from None
        rows = [(i, item, json.dumps(item, sort_keys=True)) for i, item in enumerate(items, 1)]
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append((number, json.loads(line), line))
            except json.JSONDecodeError as exc:
                bad.append(
                    (
                        f"{where}, line {number}: not valid JSON ({exc.msg} at character {exc.pos})",
                        {"file": where, "line": number, "text": line[:2000]},
                    )
                )
    good = []
    for number, item, line in rows:
        if isinstance(item, dict):
            good.append((number, item, line))
        else:
            bad.append(
                (
                    f"{where}, line {number}: not a JSON object",
                    {"file": where, "line": number, "text": line[:2000]},
                )
            )
    if not good:
        raise FileRejected(
            "no line of the file is a JSON object; events files hold one JSON object per line "
            f"(NDJSON){' — e.g. ' + bad[0][0] if bad else ''}"
        )
    columns = {path: [_path_value(item, path) for _, item, _ in good] for path in paths.values()}
    # Optional keys may be absent from a whole file; the required ones may not.
    keys = ", ".join(sorted(good[0][1]))[:400]
    for setting in ("event_name", "occurred_at"):
        if all(v is None for v in columns[paths[setting]]):
            raise FileRejected(
                f"mapping.yml maps {setting} -> {paths[setting]!r}, but no line of the file has "
                f"that key; the first line's keys are: {keys}"
            )
    visitor = [paths[s] for s in ("anonymous_id", "user_id") if s in paths]
    if all(v is None for path in visitor for v in columns[path]):
        raise FileRejected(
            f"no line of the file has {' or '.join(map(repr, visitor))} (the visitor, as "
            f"mapping.yml says); the first line's keys are: {keys}"
        )
    originals = [line for _, _, line in good]
    table = RawTable(list(columns), columns, [n for n, _, _ in good], originals=originals)
    return table, originals, bad


def utm_source(url: str | None) -> str | None:
    if not url or "utm_source" not in url:
        return None
    try:
        values = parse_qs(urlsplit(url).query).get("utm_source")
    except ValueError:
        return None
    return values[0] if values else None


def scroll_percent(numbers):
    """A cell's scroll depth as a percentage 0-100 (``75``, ``75%``); else a CellError."""

    def parse(value: object) -> float | None:
        number = numbers.decimal(str(value).replace("%", "") if isinstance(value, str) else value)
        if number is None:
            return None
        if not 0 <= number <= 100:
            raise CellError(f"scroll depth {number} is not a percentage between 0 and 100")
        return float(number)

    return parse


def parse_events(
    path: Path, data: bytes, mapping_path: Path | None, folder: str, where: str
) -> Parsed:
    mapping = load_mapping(mapping_path, EventsMapping, EXAMPLE_MAPPING)
    fmt = file_format(path, mapping.format, EVENT_FORMATS)
    text = decode(gunzip_if_needed(path, data), mapping.encoding)
    wanted = {k: v for k, v in mapping.columns.model_dump().items() if v is not None}
    bad_lines: list[tuple[str, dict]] = []
    if fmt == "ndjson":
        raw, originals, bad_lines = read_ndjson(text, wanted, where)
        found = wanted
    else:
        raw = read_delimited(text, mapping.delimiter or ",", mapping.header_row)
        if raw.rows == 0:
            raise FileRejected("the file has a header but no data rows")
        found = mapped_columns(raw, wanted)
        originals = [
            json.dumps(raw.record(i), sort_keys=True, default=str) for i in range(raw.rows)
        ]
    numbers, times = mapping.numbers(), mapping.timestamps()
    cells = raw.cells()
    n = raw.rows

    def convert(setting: str, parse, required: bool = False) -> list:
        if setting not in found:
            return [None] * n
        return cells.convert(
            raw.columns[found[setting]], parse, f"{found[setting]!r} ({setting})", required
        )

    out: dict[str, list[Any]] = {}
    event_id = convert("event_id", as_text)  # empty: the hash below
    out["event_id"] = [
        e or hashlib.sha256(f"{folder}\n{line}".encode()).hexdigest()[:32]
        for e, line in zip(event_id, originals, strict=True)
    ]
    out["channel"] = [c or mapping.channel or folder for c in convert("channel", as_text)]
    out["storefront_id"] = [
        s or mapping.storefront_id or folder for s in convert("storefront_id", as_text)
    ]
    out["anonymous_id"] = convert("anonymous_id", as_text)
    out["user_id"] = convert("user_id", as_text)
    out["session_id"] = convert("session_id", as_text)
    names = convert("event_name", as_text, required=True)
    out["event_name"] = names
    steps = {name.casefold(): step for name, step in mapping.funnel_steps.items()}
    canonical = {step: step for step in FUNNEL_STEPS}
    out["funnel_step"] = [
        None
        if name is None
        else mapping.funnel_steps.get(name) or steps.get(name.casefold()) or canonical.get(name)
        for name in names
    ]
    out["occurred_at"] = convert("occurred_at", times.parse, required=True)
    out["sku"] = convert("sku", as_text)
    out["quantity"] = convert("quantity", numbers.integer)
    out["value"] = convert("value", numbers.money)
    out["currency"] = [c or mapping.currency for c in convert("currency", parse_currency)]
    out["order_id"] = convert("order_id", as_text)
    out["page_url"] = convert("page_url", as_text)
    out["scroll_depth"] = convert("scroll_depth", scroll_percent(numbers))
    out["referrer"] = convert("referrer", as_text)
    if "traffic_source" in found:
        out["traffic_source"] = convert("traffic_source", as_text)
    else:
        out["traffic_source"] = [utm_source(url) for url in out["page_url"]]
    for i, (anonymous, user) in enumerate(zip(out["anonymous_id"], out["user_id"], strict=True)):
        if anonymous is None and user is None:
            cells.add(i, "neither an anonymous id nor a user id: the visitor is unknown")
    _exposures(out, convert, mapping, cells)
    first: dict[str, int] = {}
    for i, key in enumerate(out["event_id"]):
        if key in first and i not in cells.problems:
            cells.add(i, f"repeats event {key!r} of row {raw.row_numbers[first[key]]}")
        first.setdefault(key, i)
    full = {f.name: out[f.name] for f in EVENTS.schema}
    label = "row" if fmt == "csv" else "item" if text.lstrip().startswith("[") else "line"
    cells.label = lambda i: f"{label} {raw.row_numbers[i]}"
    kept, rows, rejected = select_rows(raw, cells, full, where)
    return Parsed(EVENTS.name, fmt, kept, rows, bad_lines + rejected)


def _exposures(out: dict[str, list[Any]], convert, mapping: EventsMapping, cells) -> None:
    """The exposure columns; a half exposure, an unknown unit or a customer-unit exposure
    without a user id is refused with its reason."""
    out["experiment_id"] = convert("experiment_id", as_text)
    out["variant"] = convert("variant", as_text)
    units = convert("experiment_unit", as_text)
    out["experiment_unit"] = []
    for i, (exp, variant, unit) in enumerate(
        zip(out["experiment_id"], out["variant"], units, strict=True)
    ):
        if exp is None and variant is None:
            out["experiment_unit"].append(None)
            continue
        unit = (unit or mapping.experiment_unit).casefold()
        out["experiment_unit"].append(unit)
        if exp is None or variant is None:
            cells.add(
                i,
                f"an experiment exposure without {'a variant' if variant is None else 'an experiment id'}"
                f" (experiment {exp!r}, variant {variant!r})",
            )
        elif unit not in EXPERIMENT_UNITS:
            cells.add(i, f"experiment unit {unit!r} is not one of {', '.join(EXPERIMENT_UNITS)}")
        elif unit == "customer" and out["user_id"][i] is None:
            cells.add(i, f"a customer-unit exposure to {exp!r} without a user id")
