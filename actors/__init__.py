"""Binance statistics backend: an actor-style supervised process tree."""

__version__ = "0.1.0"
