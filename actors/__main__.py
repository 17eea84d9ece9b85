"""`python -m actors` is `binance-stats`."""

from actors.cli import main

main()
