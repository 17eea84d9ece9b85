"""The simulated exchange's listings: names, statuses, start prices and decimals (seeded)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Real base assets, most liquid first; `--symbols N` takes the first N, then invents names.
BASE_ASSETS = """
BTC ETH BNB SOL XRP DOGE ADA TRX AVAX LINK DOT POL TON SHIB LTC BCH UNI ATOM XLM ETC FIL APT NEAR
ARB OP ICP HBAR VET INJ AAVE GRT RENDER IMX STX SUI SEI TIA ALGO EGLD SAND MANA AXS THETA FTM FLOW
XTZ CHZ EOS KAVA NEO IOTA ZEC DASH QNT CRV SNX COMP LDO RUNE GALA ENJ BAT ZIL ONE HOT KSM CELO ROSE
MINA GMX DYDX 1INCH SUSHI YFI ZRX LRC ANKR CHR STORJ SKL FET RLC BAND NMR ICX ONT WAVES QTUM ZEN SC
DGB RVN IOST WIN BTT JST SUN CELR CKB COTI DENT HNT AR KDA JASMY GLMR MOVR ASTR ACH API3 AUDIO BICO
BLUR CFX CYBER EDU ENS FLOKI PEPE BONK WIF ORDI SATS JUP PYTH WLD ID MAGIC HOOK HIGH LQTY MASK
PENDLE RDNT SSV TRB UMA WOO YGG ALICE ALPHA AMP ARPA ATA BAKE BEL BNX C98 CHESS CTK CTSI CVX DAR
DODO DUSK ELF FIDA FIS FLM FXS GHST GTC HARD HFT IDEX ILV IRIS JOE KMD KNC LINA LIT LPT LSK MBL MDT
MTL NKN NULS OGN OM OXT PAXG PERP PHA PHB POLS POND POWR PROM PUNDIX QI QKC RAD RARE REEF REQ RIF
RSR SFP SLP SPELL STG STMX STPT SXP SYS T TFUEL TLM TRU TWT UTK VOXEL VTHO WAN WAXP XEC XVG XVS
ACA ADX AERGO AEVO AI ALT ACE AXL BB BOME DYM ENA ETHFI IO JTO MANTA METIS NFP NOT OMNI PIXEL
PORTAL REZ SAGA STRK TAO TNSR W XAI ZK ZRO LISTA BANANA EIGEN SCR CATI HMSTR NEIRO TURBO DOGS
""".split()

# Start prices of the best-known assets (USDT); the rest are drawn log-uniformly.
KNOWN_PRICES = {
    "BTC": 91234.56,
    "ETH": 3012.34,
    "BNB": 612.3,
    "SOL": 142.5,
    "XRP": 2.134,
    "DOGE": 0.1623,
    "ADA": 0.4512,
    "TRX": 0.2834,
    "AVAX": 14.23,
    "LINK": 13.45,
    "DOT": 2.876,
    "POL": 0.1456,
    "TON": 1.623,
    "SHIB": 0.00000912,
    "LTC": 86.12,
    "BCH": 512.3,
    "UNI": 6.234,
    "ATOM": 2.876,
    "PEPE": 0.00000471,
    "BONK": 0.00000934,
    "FLOKI": 0.00005123,
    "PAXG": 4012.5,
}

# Listings other than eligible USDT pairs, so symbol discovery can be tested:
# (symbol, base, quote, status, spot allowed).
OTHER_LISTINGS = (
    ("ETHBTC", "ETH", "BTC", "TRADING", True),
    ("BNBBTC", "BNB", "BTC", "TRADING", True),
    ("SOLBTC", "SOL", "BTC", "TRADING", True),
    ("XRPBTC", "XRP", "BTC", "TRADING", True),
    ("BNBETH", "BNB", "ETH", "TRADING", True),
    ("LINKETH", "LINK", "ETH", "TRADING", True),
    ("BTCFDUSD", "BTC", "FDUSD", "TRADING", True),
    ("ETHFDUSD", "ETH", "FDUSD", "TRADING", True),
    ("BTCEUR", "BTC", "EUR", "TRADING", True),
    ("DOGETRY", "DOGE", "TRY", "TRADING", True),
    ("LUNAUSDT", "LUNA", "USDT", "BREAK", True),
    ("SRMUSDT", "SRM", "USDT", "HALT", True),
    ("BCCUSDT", "BCC", "USDT", "END_OF_DAY", True),
    ("BTSUSDT", "BTS", "USDT", "CANCEL_ONLY", True),
    ("XEMUSDT", "XEM", "USDT", "TRADING", False),
)

_CROSS_RATES = {"BTC": 91234.56, "ETH": 3012.34, "FDUSD": 1.0, "EUR": 1.08, "TRY": 0.029}

MAX_TICKS = 2**31 - 1  # keeps price ticks in int32 range (compact bar history)


@dataclass(frozen=True)
class Listing:
    """One exchangeInfo symbol: names, status and the start of its price walk."""

    symbol: str
    base: str
    quote: str
    status: str
    spot: bool
    price_decimals: int
    qty_decimals: int
    start_ticks: int

    @property
    def eligible(self) -> bool:
        """A spot-allowed USDT pair whose status is TRADING (what the feed tracks)."""
        return self.quote == "USDT" and self.status == "TRADING" and self.spot

    @property
    def trading(self) -> bool:
        """Whether the symbol trades (and so streams) at all."""
        return self.status == "TRADING"


def price_decimals(price: float) -> int:
    """About six significant digits, like Binance tick sizes (BTC 0.01, ETH 0.001, PEPE 1e-8)."""
    return max(0, min(8, 6 - math.floor(math.log10(price))))


def qty_decimals(price: float) -> int:
    """Lot step: finer for dear assets (BTC 0.00001), whole units for cheap ones."""
    return max(0, min(8, math.floor(math.log10(price)) + 1))


def _listing(symbol: str, base: str, quote: str, status: str, spot: bool, price: float) -> Listing:
    decimals = price_decimals(price)
    ticks = max(1, min(MAX_TICKS // 4, round(price * 10**decimals)))
    return Listing(symbol, base, quote, status, spot, decimals, qty_decimals(price), ticks)


def new_usdt_listing(symbol: str, price: float) -> Listing:
    """A TRADING spot USDT pair listed at run time (`ExchangeSimulator.list_symbol`)."""
    if not symbol.isalnum() or not symbol.isupper() or not symbol.endswith("USDT"):
        raise ValueError(f"a new listing must be an upper-case USDT pair, not {symbol!r}")
    if len(symbol) <= len("USDT") or not 0 < price < 1e9:
        raise ValueError(f"bad listing {symbol!r} at {price!r}")
    return _listing(symbol, symbol[: -len("USDT")], "USDT", "TRADING", True, price)


def _invented_name(rng: random.Random, taken: set[str]) -> str:
    """A pronounceable made-up base asset, for symbol counts beyond the real list."""
    consonants, vowels = "BCDFGHKLMNPRSTVXZ", "AEIOU"
    while True:
        name = "".join(
            rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4))
        )
        if name not in taken:
            taken.add(name)
            return name


def build_catalogue(symbols: int, seed: int) -> list[Listing]:
    """`symbols` eligible USDT pairs followed by the other listings, deterministic for `seed`."""
    if symbols < 1:
        raise ValueError("the simulator needs at least one symbol")
    rng = random.Random(seed)
    bases = list(dict.fromkeys(BASE_ASSETS))[:symbols]
    taken = set(BASE_ASSETS) | {row[1] for row in OTHER_LISTINGS}
    while len(bases) < symbols:
        bases.append(_invented_name(rng, taken))
    listings: list[Listing] = []
    for base in bases:
        price = KNOWN_PRICES.get(base) or 10 ** rng.uniform(-4.0, 2.5)
        listings.append(_listing(base + "USDT", base, "USDT", "TRADING", True, price))
    usdt_price = {
        listing.base: listing.start_ticks / 10**listing.price_decimals for listing in listings
    }
    for symbol, base, quote, status, spot in OTHER_LISTINGS:
        base_usdt = usdt_price.get(base) or 10 ** rng.uniform(-3.0, 1.0)
        listings.append(
            _listing(symbol, base, quote, status, spot, base_usdt / _CROSS_RATES.get(quote, 1.0))
        )
    return listings
