"""A file-only channel, Etsy: a semicolon-separated "sold items" export in EUR with decimal
commas and local times, and its ``mapping.yml``."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from sandbox.business import SIM_EPOCH, Business
from sandbox.exports.common import (
    _ETSY_STREAM,
    _HOURLY,
    _days,
    _mix,
    product_skus,
)

ETSY_MAPPING = """\
# Etsy "sold order items" as the shop's spreadsheet tool saves it: semicolons, decimal commas,
# shop-local times. One row per item; shipping is on the order's first item.
format: csv
delimiter: ";"
decimal_comma: true
timestamp_format: "%d.%m.%Y %H:%M"
timezone: Europe/Berlin
currency: EUR
cancelled_statuses: [Canceled]
columns:
  order_id: Order ID
  line_id: Transaction ID
  ordered_at: Sale Date
  shipped_at: Date Shipped
  customer_id: Buyer User ID
  sku: SKU
  product_name: Item Name
  quantity: Quantity
  unit_price: Price
  discount: Discount Amount
  shipping: Order Shipping
  status: Status
"""


# ---------------------------------------------------------------------------------------------
# A file-only channel: Etsy
# ---------------------------------------------------------------------------------------------
_ETSY_ORDERS_PER_DAY = 4.0
_ETSY_EUR_PER_USD = 0.92 * 1.08  # the shop's prices: converted, a little above list price
_ETSY_ZONE = "Europe/Berlin"


def etsy_orders(business: Business, start: date, end: date) -> pl.DataFrame:
    """Order items of a small Etsy shop (EUR) on the local days [start, end): a few orders a
    day (times the business's scale) of catalog products, with repeat buyers, coupons, shipping
    on each order's first item and about 3% cancellations. Columns as the export names them;
    ``Sale Date``/``Date Shipped`` are Europe/Berlin wall-clock times."""
    zone = ZoneInfo(_ETSY_ZONE)
    skus = product_skus(business)
    sold = business.order_lines.group_by("product_id").len("sold")
    products = (
        business.products.join(skus, on="product_id")
        .join(sold, on="product_id", how="left")
        .with_columns(((pl.col("sold").fill_null(0) + 1).cast(pl.Float64) ** 0.7).alias("w"))
        .sort("product_id")
    )
    launch = products["launch_date"].to_numpy()
    weight = products["w"].to_numpy()
    price_eur = np.round(products["list_price_usd"].to_numpy() * _ETSY_EUR_PER_USD) - 0.10
    price_eur = np.maximum(price_eur, 4.90)
    population = max(int(3000 * business.scale), 50)
    end_moment = datetime.combine(end, time(), UTC)
    rows: list[dict] = []
    for day in _days(start, end):
        rng = np.random.default_rng([business.seed, _ETSY_STREAM, day.toordinal()])
        weekend = 1.2 if day.weekday() >= 5 else 1.0
        n = int(rng.poisson(_ETSY_ORDERS_PER_DAY * business.scale * weekend))
        available = launch <= np.datetime64(day)
        if n == 0 or not available.any():
            continue
        p = np.where(available, weight, 0.0)
        index = (day - SIM_EPOCH).days
        for i in range(n):
            lines = int(rng.choice([1, 2, 3], p=[0.8, 0.17, 0.03]))
            picks = rng.choice(len(p), size=lines, p=p / p.sum())
            quantity = rng.choice([1, 2, 3], size=lines, p=[0.85, 0.12, 0.03])
            coupon = rng.random() < 0.15
            cancelled = rng.random() < 0.03
            buyer = int(population * rng.random() ** 1.6)
            local = datetime.combine(day, time()) + timedelta(
                hours=int(rng.choice(24, p=_HOURLY)), minutes=int(rng.integers(60))
            )
            shipped = local + timedelta(days=float(rng.uniform(1, 3)))
            shipped_utc = shipped.replace(tzinfo=zone).astimezone(UTC)
            gross = [
                round(float(price_eur[j]) * int(q), 2) for j, q in zip(picks, quantity, strict=True)
            ]
            shipping = 0.0 if sum(gross) >= 60 else 4.90
            for line, (j, q, g) in enumerate(zip(picks, quantity, gross, strict=True)):
                discount = round(g * 0.10, 2) if coupon else 0.0
                rows.append(
                    {
                        "Order ID": str(3_000_000_000 + index * 1000 + i),
                        "Transaction ID": str(4_000_000_000 + index * 10_000 + i * 10 + line),
                        "Sale Date": local,
                        "Buyer User ID": str(
                            100_000_000 + int(_mix(business.seed, buyer)[0] % 900_000_000)
                        ),
                        "Buyer": f"etsybuyer{buyer}",
                        "Item Name": products["title"][int(j)],
                        "SKU": products["product_sku"][int(j)],
                        "Quantity": int(q),
                        "Price": float(price_eur[j]),
                        "Discount Amount": discount,
                        "Order Shipping": shipping if line == 0 else 0.0,
                        "Item Total": round(g - discount, 2),
                        "Status": "Canceled" if cancelled else "Completed",
                        "Date Shipped": None if cancelled or shipped_utc >= end_moment else shipped,
                    }
                )
    return pl.DataFrame(rows, schema_overrides={"Date Shipped": pl.Datetime("us")})


def _etsy_csv(orders: pl.DataFrame) -> str:
    """The export as the shop's spreadsheet saves it: ';' between cells, decimal commas."""

    def comma(value: float) -> str:
        return f"{value:.2f}".replace(".", ",")

    out = io.StringIO()
    out.write(";".join(orders.columns) + "\n")
    for row in orders.iter_rows(named=True):
        cells = []
        for value in row.values():
            if value is None:
                cells.append("")
            elif isinstance(value, datetime):
                cells.append(value.strftime("%d.%m.%Y %H:%M"))
            elif isinstance(value, float):
                cells.append(comma(value))
            else:
                cells.append(str(value).replace(";", ","))
        out.write(";".join(cells) + "\n")
    return out.getvalue()
