"""Fan-out benchmark (issue 5): 242 symbols updating once a second, N clients each subscribed to
5 symbols in the documented dialect, the hub against a bare aiohttp WebSocket server sending the
same frames, in the same run; then a saturation phase (broadcast as fast as the server can).

    python -m tests.bench.bench_fanout            # N = 100, 1000, 5000
    python -m tests.bench.bench_fanout --quick    # N = 100, 1000, shorter phases
"""

from __future__ import annotations

import argparse

from tests.bench.fanout_support import Row, measure, print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, nargs="*")
    args = parser.parse_args()
    sizes = args.clients or ([100, 1000] if args.quick else [100, 1000, 5000])
    paced, saturate = (4.0, 3.0) if args.quick else (8.0, 5.0)
    rows: list[Row] = []
    for clients in sizes:
        for kind in ("bare", "hub"):
            rows.append(
                measure(kind, "room", clients, per_client=5, paced=paced, saturate=saturate)
            )
            print(rows[-1], flush=True)
    print_table("fan-out, documented dialect (5 symbols per client, 242 symbols at 1 Hz)", rows)


if __name__ == "__main__":
    main()
