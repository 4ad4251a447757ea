"""Amazon's marketplaces: the one table of them (the dbt seed ``amazon_marketplaces.csv``
carries the same rows; ``tests/extractors/test_marketplaces.py`` checks it).

Plain Python, no third-party imports: the configuration's validators, the reports and the
extractor all read it.
"""

from __future__ import annotations

from typing import NamedTuple


class Marketplace(NamedTuple):
    marketplace_id: str
    region: str  # SP-API region: na, eu, fe
    country_code: str
    marketplace_name: str  # the sales channel / MarketplaceName Amazon reports
    default_currency: str


MARKETPLACES: tuple[Marketplace, ...] = (
    Marketplace("ATVPDKIKX0DER", "na", "US", "Amazon.com", "USD"),
    Marketplace("A2EUQ1WTGCTBG2", "na", "CA", "Amazon.ca", "CAD"),
    Marketplace("A1AM78C64UM0Y8", "na", "MX", "Amazon.com.mx", "MXN"),
    Marketplace("A2Q3Y263D00KWC", "na", "BR", "Amazon.com.br", "BRL"),
    Marketplace("A1F83G8C2ARO7P", "eu", "GB", "Amazon.co.uk", "GBP"),
    Marketplace("A1PA6795UKMFR9", "eu", "DE", "Amazon.de", "EUR"),
    Marketplace("A13V1IB3VIYZZH", "eu", "FR", "Amazon.fr", "EUR"),
    Marketplace("APJ6JRA9NG5V4", "eu", "IT", "Amazon.it", "EUR"),
    Marketplace("A1RKKUPIHCS9HS", "eu", "ES", "Amazon.es", "EUR"),
    Marketplace("A1805IZSGTT6HS", "eu", "NL", "Amazon.nl", "EUR"),
    Marketplace("A2NODRKZP88ZB9", "eu", "SE", "Amazon.se", "SEK"),
    Marketplace("A1C3SOZRARQ6R3", "eu", "PL", "Amazon.pl", "PLN"),
    Marketplace("AMEN7PMS3EDWL", "eu", "BE", "Amazon.com.be", "EUR"),
    Marketplace("A28R8C7NBKEWEA", "eu", "IE", "Amazon.ie", "EUR"),
    Marketplace("A33AVAJ2PDY3EV", "eu", "TR", "Amazon.com.tr", "TRY"),
    Marketplace("A2VIGQ35RCS4UG", "eu", "AE", "Amazon.ae", "AED"),
    Marketplace("A17E79C6D8DWNP", "eu", "SA", "Amazon.sa", "SAR"),
    Marketplace("ARBP9OOSHTCHU", "eu", "EG", "Amazon.eg", "EGP"),
    Marketplace("A21TJRUUN4KGV", "eu", "IN", "Amazon.in", "INR"),
    Marketplace("AE08WJ6YKNBMC", "eu", "ZA", "Amazon.co.za", "ZAR"),
    Marketplace("A1VC38T7YXB528", "fe", "JP", "Amazon.co.jp", "JPY"),
    Marketplace("A39IBJ37TRP1C6", "fe", "AU", "Amazon.com.au", "AUD"),
    Marketplace("A19VAU5U5O7RUS", "fe", "SG", "Amazon.sg", "SGD"),
)

# id -> (region, country)
AMAZON_MARKETPLACES: dict[str, tuple[str, str]] = {
    m.marketplace_id: (m.region, m.country_code) for m in MARKETPLACES
}
# Sales channel / MarketplaceName -> marketplace id, and each marketplace's currency.
MARKETPLACE_BY_NAME: dict[str, str] = {m.marketplace_name: m.marketplace_id for m in MARKETPLACES}
MARKETPLACE_CURRENCY: dict[str, str] = {m.marketplace_id: m.default_currency for m in MARKETPLACES}
AMAZON_HOSTS = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
