"""History import: fill the store from the exchange's 1 s klines (`binance-stats backfill`)."""
