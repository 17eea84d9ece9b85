"""History import benchmark: `binance-stats backfill --hours 1` on 400 simulated pairs.

The simulator runs in its own process (realistic activity, an hour of pre-history, the real
6,000 weight a minute); each round imports into a fresh SQLite file with the real command,
then runs it again (idempotence: nothing written, nothing asked), then measures the baseline
in the same round: a rerun that does not trust the record of imported pages, so it asks for
every page again (what a store-only check would cost, since quiet seconds are never stored).
Prints the median of the rounds.

    python -m tests.bench.bench_backfill              # 3 rounds
    python -m tests.bench.bench_backfill --rounds 1   # for development
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from actors.feed.rest_gate import RestGate
from actors.history.command import HISTORY_BUDGET_SHARE, default_end
from actors.history.importer import HistoryImporter
from actors.store import IntervalScheme, open_store

SYMBOLS = 400
HOURS = 1
_SUMMARY = re.compile(
    r"(\d+) rows written, (\d+) already stored, (\d+)/(\d+) pages, (\d+) requests "
    r"\(weight (\d+)\), ([\d.]+) s"
)


def start_simulator() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "actors", "simulate", "--port", "0", "--symbols", str(SYMBOLS),
         "--prehistory-seconds", str(HOURS * 3600 + 300)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "LOG_LEVEL": "warning"},
    )  # fmt: skip
    assert proc.stdout is not None
    for _ in range(20):
        line = proc.stdout.readline()
        if line.startswith("BINANCE_REST_URL="):
            return proc, line.strip().partition("=")[2]
    proc.kill()
    raise SystemExit("the simulator did not start")


def run_command(rest_url: str, db: Path, end: int) -> dict[str, float]:
    """One `binance-stats backfill` run; its summary figures and wall time."""
    env = {**os.environ, "BINANCE_REST_URL": rest_url, "DATABASE_URL": f"sqlite:///{db}",
           "LOG_LEVEL": "warning"}  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "actors", "backfill", "--hours", str(HOURS), "--end", str(end)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    match = _SUMMARY.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"backfill failed ({done.returncode}): {done.stdout}{done.stderr}")
    rows, kept, pages, _, requests, weight, seconds = (float(g) for g in match.groups())
    return {"rows": rows, "kept": kept, "pages": pages, "requests": requests, "weight": weight,
            "import_s": seconds, "wall_s": wall}  # fmt: skip


class _Forgetful:
    """The store, but with no record of imported pages (the baseline's view)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def imported_ranges(self, symbol: str) -> list[tuple[int, int]]:
        return []


async def run_baseline(rest_url: str, db: Path, end: int) -> dict[str, float]:
    store = open_store(f"sqlite:///{db}", IntervalScheme())
    await store.open()
    try:
        names = [record.symbol for record in await store.list_symbols(active_only=True)]
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            importer = HistoryImporter(
                _Forgetful(store), RestGate(budget_share=HISTORY_BUDGET_SHARE), session, rest_url
            )
            report = await importer.run(await importer.plan(names, end - HOURS * 3600 + 1, end))
        wall = time.monotonic() - started
    finally:
        await store.close()
    return {"rows": report.rows_written, "kept": report.rows_kept, "pages": report.pages_done,
            "requests": report.requests, "weight": report.weight, "import_s": report.seconds,
            "wall_s": wall}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sim, rest_url = start_simulator()
    results: dict[str, list[dict[str, float]]] = {"first": [], "second": [], "baseline": []}
    try:
        with tempfile.TemporaryDirectory(prefix="bs-bench-backfill-") as tmp:
            for round_no in range(args.rounds):
                db = Path(tmp) / f"round{round_no}.db"
                end = default_end(time.time())
                results["first"].append(run_command(rest_url, db, end))
                results["second"].append(run_command(rest_url, db, end))
                results["baseline"].append(asyncio.run(run_baseline(rest_url, db, end)))
                print(f"round {round_no + 1}: " + ", ".join(
                    f"{name} {rows[-1]['rows']:.0f} rows {rows[-1]['wall_s']:.1f} s "
                    f"{rows[-1]['weight']:.0f} weight" for name, rows in results.items()
                ), flush=True)  # fmt: skip
    finally:
        sim.terminate()
        sim.wait(30)
    labels = {
        "first": "`backfill --hours 1`, empty store",
        "second": "same command again",
        "baseline": "again, without the record of imported pages (baseline)",
    }
    first_weight = statistics.median(r["weight"] for r in results["first"])
    print(f"\n{SYMBOLS} pairs, {HOURS} h, realistic activity, median of {args.rounds} rounds\n")
    print("| run | rows written | already stored | requests | weight | time s | weight vs first |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        print(
            f"| {labels[name]} | {med['rows']:,.0f} | {med['kept']:,.0f} | {med['requests']:,.0f} "
            f"| {med['weight']:,.0f} | {med['wall_s']:.1f} | {med['weight'] / first_weight:.2f}x |"
        )


if __name__ == "__main__":
    main()
