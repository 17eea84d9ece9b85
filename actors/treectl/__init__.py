"""`binance-stats tree start|stop|status|restart|targets`: tree mode with no hand steps.

`programs.py` lists the processes a host runs (ROLES, FEED_SHARDS, FRONTS), `conf.py` writes
the supervisord configuration for them, `targets.py` the Prometheus file targets, and
`control.py` creates run/ and logs/ and drives supervisord. See docs/operations.md.
"""
