"""Fan-out benchmark (issue 5): 242 symbols updating once a second, N clients each subscribed to
5 symbols in the documented dialect, the hub against a bare aiohttp WebSocket server sending the
same frames, in the same run; then a saturation phase (broadcast as fast as the server can).

    python -m tests.bench.bench_fanout            # N = 100, 1000, 5000
    python -m tests.bench.bench_fanout --quick    # N = 100, 1000, shorter phases
"""

from __future__ import annotations

from tests.bench.fanout_support import main

if __name__ == "__main__":
    main(
        __doc__,
        "fan-out, documented dialect (5 symbols per client, 242 symbols at 1 Hz)",
        mode="room",
        per_client=5,
        sizes=[100, 1000, 5000],
        phases=(8.0, 5.0),
        quick_phases=(4.0, 3.0),
    )
