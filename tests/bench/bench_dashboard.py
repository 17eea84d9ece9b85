"""Dashboard benchmark (issue 8): N clients each subscribed in list form to all 242 symbols
updating once a second; the hub's list-form price_update against a bare aiohttp WebSocket server
sending the same bytes, in the same run.

    python -m tests.bench.bench_dashboard            # N = 100, 500, 1000
    python -m tests.bench.bench_dashboard --quick    # N = 100, 1000, shorter phases
"""

from __future__ import annotations

from tests.bench.fanout_support import main

if __name__ == "__main__":
    main(
        __doc__,
        "dashboard dialect (list form, all 242 symbols per client, 1 Hz)",
        mode="list",
        per_client=242,
        sizes=[100, 500, 1000],
        phases=(8.0, 3.0),
        quick_phases=(4.0, 2.0),
    )
