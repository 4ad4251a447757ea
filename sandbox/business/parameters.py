"""The business's fixed facts (storefronts, FX levels, locations) and its model parameters:
volumes, fulfilment times, baskets, demand, refunds, replenishment, customers, and the catalog's
vocabulary."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

import numpy as np

SIM_EPOCH = date(2024, 1, 1)


class Storefront(NamedTuple):
    """One seller account on one marketplace (Amazon) or store (Shopify, Walmart)."""

    account: str
    channel: str
    marketplace_id: str
    currency: str
    country: str


ACCOUNTS: tuple[Storefront, ...] = (
    Storefront("amazon_na", "amazon", "ATVPDKIKX0DER", "USD", "US"),
    Storefront("amazon_na", "amazon", "A2EUQ1WTGCTBG2", "CAD", "CA"),
    Storefront("amazon_eu", "amazon", "A1F83G8C2ARO7P", "GBP", "GB"),
    Storefront("amazon_eu", "amazon", "A1PA6795UKMFR9", "EUR", "DE"),
    Storefront("amazon_eu", "amazon", "A13V1IB3VIYZZH", "EUR", "FR"),
    Storefront("shopify_us", "shopify", "channelhouse-demo", "USD", "US"),
    Storefront("shopify_eu", "shopify", "channelhouse-eu", "EUR", "DE"),
    Storefront("walmart_us", "walmart", "WALMART_US", "USD", "US"),
)

FX_PER_USD: dict[str, float] = {"USD": 1.0, "CAD": 1.36, "GBP": 0.79, "EUR": 0.92}

# (account, location_id, location_name)
LOCATIONS: tuple[tuple[str, str, str], ...] = (
    ("amazon_na", "ATVPDKIKX0DER", "Amazon.com FBA"),
    ("amazon_na", "A2EUQ1WTGCTBG2", "Amazon.ca FBA"),
    ("amazon_eu", "A1F83G8C2ARO7P", "Amazon.co.uk FBA"),
    ("amazon_eu", "A1PA6795UKMFR9", "Amazon.de FBA"),
    ("amazon_eu", "A13V1IB3VIYZZH", "Amazon.fr FBA"),
    ("shopify_us", "gid://shopify/Location/71104397001", "Main Warehouse (Edison, NJ)"),
    ("shopify_us", "gid://shopify/Location/71104397002", "Retail Store (Brooklyn, NY)"),
    ("shopify_eu", "gid://shopify/Location/82215508001", "EU Warehouse (Venlo)"),
    ("shopify_eu", "gid://shopify/Location/82215508002", "Showroom (Berlin)"),
    ("walmart_us", "100009", "Seller Warehouse (Edison, NJ)"),
    ("walmart_us", "WFS-1", "Walmart Fulfillment Services"),
)

# ---------------------------------------------------------------------------------------------
# Model parameters
# ---------------------------------------------------------------------------------------------
_N_SF = len(ACCOUNTS)
_CHANNELS = ("amazon", "shopify", "walmart")
_AMAZON, _SHOPIFY, _WALMART = range(3)
_SF_CHANNEL = np.array([_CHANNELS.index(s.channel) for s in ACCOUNTS])
_SF_FX = np.array([FX_PER_USD[s.currency] for s in ACCOUNTS])
_SF_TAXED = np.array([s.country == "US" for s in ACCOUNTS])
_SF_DAILY_ORDERS = np.array([30, 5, 6, 7, 4, 25, 8, 15], dtype=float)
_SF_UTC_OFFSET = np.array([-6, -5, 0, 1, 1, -6, 1, -6])
_SHOPIFY_US, _WALMART_US = 5, 7
_AMAZON_ORDER_PREFIXES = (
    ("111", "112", "113", "114"),
    ("701", "702"),
    ("202", "203", "204"),
    ("302", "303", "304"),
    ("402", "403", "405"),
)

_FULFILLMENTS = ("AFN", "MFN", "WFS", "SellerFulfilled", "merchant")
_AFN, _MFN, _WFS, _SELLER, _MERCHANT = range(5)
_SHIP_HOURS = np.array([[2, 30], [6, 72], [3, 40], [6, 72], [4, 72]], dtype=float)
_DELIVERY_DAYS = np.array([[2, 4], [2, 7], [2, 5], [2, 7], [2, 7]], dtype=float)
# Shipping charged below a free-shipping threshold, in USD, per channel (AFN ships free).
_SHIPPING_FEE_USD = np.array([4.99, 5.99, 5.99])
_FREE_SHIPPING_USD = np.array([25.0, 50.0, 35.0])

_LINES_PER_ORDER = 1.15  # observed lines per order after baskets are split by fulfilment
_BUSINESS_GROWTH = 0.08  # per year, centred on 2025-01-01
_QTY_VALUES = np.array([1, 2, 3, 4])
_QTY_PROBS = np.array([0.83, 0.12, 0.04, 0.01])
_MEAN_QTY = float(_QTY_VALUES @ _QTY_PROBS)
_BASKET_SIZES = np.array([1, 2, 3])
_BASKET_PROBS = np.array([0.8, 0.15, 0.05])
_DEMAND_GAMMA_SHAPE = 2.0  # daily demand noise: negative binomial with this shape
_ELASTICITY = 1.5
_PROMO_LIFT = 3.0  # a 20% discount lifts demand by 60%
_PROMO_PCTS = np.array([0.1, 0.15, 0.2, 0.25, 0.3])
_HORIZON_EVENTS = 60  # price changes and promotions drawn per listing, whatever `end` is

_CANCEL_RATE = 0.02
_REFUND_RATE = 0.065
_REFUND_REASONS = (
    "Defective",
    "Damaged in transit",
    "Not as described",
    "No longer needed",
    "Wrong item sent",
    "Better price available",
)
_LATE_REFUND_REASON = "Customer return (late adjustment)"
_COMMISSION_RATE = 0.15

_LEAD_DAYS = (10, 45)
_LEAD_PLAN_DAYS = 28  # lead time the reorder point is planned for
_CASE_PACK = 6

_REPEAT_BY_CHANNEL = np.array([0.25, 0.4, 0.25])
_REPEAT_RAMP_ORDERS = 300  # the repeat rate reaches half its level after this many orders
_RECENCY = 0.6  # < 1 favours recent buyers when a repeat order picks a past order
_SHARE_FLAG = 0.15  # share of new Shopify US customers who will also buy on Walmart
_SHARE_CLAIM = 0.18  # share of new Walmart customers who are such a Shopify customer

PENDING_FOR = timedelta(minutes=30)  # an order is 'pending' (payment not authorised) this long
_NA = np.iinfo(np.int64).max  # "no such event" in the microsecond arrays
_DAY_US = 86_400_000_000
_EPOCH_US = (SIM_EPOCH - date(1970, 1, 1)).days * _DAY_US
_EPOCH_DAYS = (SIM_EPOCH - date(1970, 1, 1)).days
_STATUSES = ("pending", "unshipped", "shipped", "delivered", "cancelled")
_REFUND_STATES = ("none", "partial", "full")

# fmt: off
# Local-time hourly order profile (00:00 ... 23:00).
_HOURLY_LOCAL = np.array(
    [0.5, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.7, 1.0, 1.2, 1.3, 1.35,
     1.4, 1.35, 1.3, 1.3, 1.35, 1.45, 1.6, 1.75, 1.8, 1.6, 1.2, 0.8]
)
# Monday ... Sunday, per channel.
_WEEKLY = np.array(
    [
        [1.03, 1.0, 0.98, 0.97, 0.96, 1.02, 1.04],
        [0.95, 0.97, 0.97, 0.98, 1.0, 1.07, 1.06],
        [0.98, 0.97, 0.97, 0.98, 1.0, 1.06, 1.04],
    ]
)

# ---------------------------------------------------------------------------------------------
# Catalog vocabulary
# ---------------------------------------------------------------------------------------------
_CATEGORIES: dict[str, tuple[tuple[str, ...], float, float]] = {
    "Kitchen": (
        ("Chef's Knife", "Cutting Board", "Water Bottle", "Coffee Grinder", "Mixing Bowl Set",
         "Spatula Set", "French Press", "Food Storage Containers"), 12, 80),
    "Home Decor": (
        ("Throw Pillow Cover", "Scented Candle", "Wall Clock", "Table Lamp", "Picture Frame Set",
         "Ceramic Vase"), 15, 90),
    "Outdoor": (
        ("Camping Lantern", "Hammock", "Cooler Bag", "Folding Camp Chair", "Hiking Daypack",
         "Hose Nozzle"), 15, 120),
    "Pet Supplies": (
        ("Dog Leash", "Cat Scratching Post", "Pet Bed", "Slow Feeder Bowl", "Chew Toy",
         "Grooming Brush"), 8, 60),
    "Fitness": (
        ("Yoga Mat", "Resistance Bands", "Adjustable Dumbbell", "Foam Roller", "Jump Rope",
         "Gym Bag"), 10, 150),
    "Electronics Accessories": (
        ("USB-C Cable", "Wireless Charger", "Phone Stand", "Bluetooth Speaker", "Laptop Sleeve",
         "Power Bank"), 9, 70),
    "Beauty": (
        ("Cleansing Brush", "Hot Air Brush", "Makeup Brush Set", "Jade Roller", "Nail Care Kit",
         "Bamboo Hairbrush"), 8, 60),
    "Toys": (
        ("Building Blocks Set", "Plush Bear", "Wooden Puzzle", "Kids Art Kit", "Remote Control Car",
         "Magnetic Tiles"), 10, 70),
}
_CATEGORY_SHARE = np.array([0.18, 0.12, 0.12, 0.12, 0.12, 0.14, 0.1, 0.1])
_BRANDS = (
    "Northwind", "Bramble & Co", "Lumina", "Peakline", "Hearthstone", "Cobalt Goods",
    "Willow Lane", "Tidepool", "Ironbark", "Fennec", "Juniper Home", "Kestrel", "Oakhaven",
    "Pebble & Pine", "Solstice", "Trailmark", "Velvet Fox", "Zephyr", "Brightside", "Maple & Moss",
)
_ADJECTIVES = (
    "Premium", "Classic", "Eco", "Pro", "Compact", "Deluxe", "Everyday", "Ultra", "Essential",
    "Signature",
)
_COLORS = ("Black", "White", "Grey", "Navy", "Sage Green", "Terracotta", "Blush Pink", "Charcoal")
_SIZES = ("Small", "Medium", "Large")
_FAMILY_SIZES = np.array([1, 1, 1, 2, 2, 3])
_FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley",
    "Lukas", "Emma", "Noah", "Mia", "Leon", "Sofia", "Oliver", "Amelia", "Hugo", "Chloe", "Priya",
    "Wei",
)
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Young",
    "Muller", "Schmidt", "Schneider", "Fischer", "Dubois", "Bernard", "Moreau", "Patel", "Nguyen",
    "Kim", "Chen", "Kowalski",
)
# fmt: on
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
