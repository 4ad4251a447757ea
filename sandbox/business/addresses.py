"""Shipping addresses of the simulated customers, the same on every channel that shows them.

An address is a function of a hashed customer id (``_c``) and the storefront's country: a
street line, a city, a state or region and a postal code of that country's format. No street
of the list is a real address; the cities are.
"""

from __future__ import annotations

import polars as pl

# (city, state or region, postal code prefix) per country; the rest of the code is derived.
ADDRESSES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "US": (("Seattle", "WA", "981"), ("Austin", "TX", "787"), ("Brooklyn", "NY", "112"),
           ("Chicago", "IL", "606"), ("Los Angeles", "CA", "900"), ("Miami", "FL", "331"),
           ("Denver", "CO", "802"), ("Atlanta", "GA", "303"), ("Columbus", "OH", "432"),
           ("Phoenix", "AZ", "850")),
    "CA": (("Toronto", "ON", "M5V"), ("Vancouver", "BC", "V6B"), ("Montreal", "QC", "H2X"),
           ("Calgary", "AB", "T2P"), ("Ottawa", "ON", "K1P")),
    "GB": (("London", "Greater London", "SW1A"), ("Manchester", "Greater Manchester", "M1"),
           ("Birmingham", "West Midlands", "B1"), ("Leeds", "West Yorkshire", "LS1"),
           ("Glasgow", "Glasgow City", "G1"), ("Bristol", "Bristol", "BS1")),
    "DE": (("Berlin", "Berlin", "10"), ("München", "Bayern", "80"), ("Hamburg", "Hamburg", "20"),
           ("Köln", "Nordrhein-Westfalen", "50"), ("Frankfurt am Main", "Hessen", "60"),
           ("Stuttgart", "Baden-Württemberg", "70")),
    "FR": (("Paris", "Île-de-France", "75"), ("Lyon", "Auvergne-Rhône-Alpes", "69"),
           ("Marseille", "Provence-Alpes-Côte d'Azur", "13"), ("Toulouse", "Occitanie", "31"),
           ("Bordeaux", "Nouvelle-Aquitaine", "33"), ("Lille", "Hauts-de-France", "59")),
}  # fmt: skip

STREETS = ("Maple Avenue", "Oak Street", "Cedar Lane", "Pine Road", "Elm Street", "Lake Drive",
           "Hill Road", "Park Avenue", "River Road", "Church Street", "Mill Lane", "Station Road")  # fmt: skip


def address_seed(customer_id: pl.Expr) -> pl.Expr:
    """``_c``: the hashed customer id an address is drawn from (the hash Amazon's
    ShippingAddress always used, so its addresses did not change when this moved here)."""
    return ((customer_id * 2_654_435_761 + 11) % 4_294_967_291).abs()


def with_address(frame: pl.DataFrame) -> pl.DataFrame:
    """Street line, city, state/region and postal code of each order's shipping address, from
    the customer id (hashed into ``_c``) and the storefront's ``country``."""
    exprs = []
    for n, part in enumerate(("ship_city", "ship_state", "_postal_prefix")):
        expr = pl.lit(None, dtype=pl.Utf8)
        for country, places in ADDRESSES.items():
            pick = pl.lit(pl.Series([p[n] for p in places])).gather(pl.col("_c") % len(places))
            expr = pl.when(pl.col("country") == country).then(pick).otherwise(expr)
        exprs.append(expr.alias(part))
    digits = (pl.col("_c") // 7 % 1000).cast(pl.Utf8).str.zfill(3)
    letters = pl.lit("ABDEFGHJLNPQRSTUWXYZ")
    letter = [letters.str.slice(pl.col("_c") // d % 20, 1) for d in (13, 17)]
    postal = (
        pl.when(pl.col("country") == "US").then(pl.col("_postal_prefix") + digits.str.slice(0, 2))
        .when(pl.col("country") == "CA")
        .then(pl.concat_str(pl.col("_postal_prefix"), pl.lit(" "), digits.str.slice(0, 1),
                            letter[0], digits.str.slice(1, 1)))
        .when(pl.col("country") == "GB")
        .then(pl.concat_str(pl.col("_postal_prefix"), pl.lit(" "), digits.str.slice(0, 1),
                            *letter))
        .otherwise(pl.col("_postal_prefix") + digits)
    )  # fmt: skip
    number = (pl.col("_c") // 11 % 480 + 1).cast(pl.Utf8)
    street = pl.lit(pl.Series(STREETS)).gather(pl.col("_c") // 3 % len(STREETS))
    return (
        frame.with_columns(*exprs)
        .with_columns(
            postal.alias("ship_postal_code"),
            pl.when(pl.col("country").is_in(["DE", "FR"]))
            .then(pl.concat_str(street, pl.lit(" "), number))
            .otherwise(pl.concat_str(number, pl.lit(" "), street))
            .alias("ship_address1"),
        )
        .drop("_postal_prefix")
    )
