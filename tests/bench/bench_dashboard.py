"""Dashboard benchmark (issue 8): N clients each subscribed in list form to all 242 symbols
updating once a second; the hub's list-form price_update against a bare aiohttp WebSocket server
sending the same bytes, in the same run.

    python -m tests.bench.bench_dashboard            # N = 100, 500, 1000
    python -m tests.bench.bench_dashboard --quick    # N = 100, 1000, shorter phases
"""

from __future__ import annotations

import argparse

from tests.bench.fanout_support import Row, measure, print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, nargs="*")
    args = parser.parse_args()
    sizes = args.clients or ([100, 1000] if args.quick else [100, 500, 1000])
    paced, saturate = (4.0, 2.0) if args.quick else (8.0, 3.0)
    rows: list[Row] = []
    for clients in sizes:
        for kind in ("bare", "hub"):
            rows.append(
                measure(kind, "list", clients, per_client=242, paced=paced, saturate=saturate)
            )
            print(rows[-1], flush=True)
    print_table("dashboard dialect (list form, all 242 symbols per client, 1 Hz)", rows)


if __name__ == "__main__":
    main()
