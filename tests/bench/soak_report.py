"""The soak's figures: RSS slope per process, fds and tasks after warm-up, the CSV and the PNG.

"beyond bounded" is the slope of RSS less what the process's bounded structures hold (SQLite's
heap, whose page caches grow to cache_size; the in-process cache window at about 25 B a point;
Redis's used_memory for redis-server): growth there is growth nothing accounts for.

A process restarted by the soak (the db-writer killed every 7 minutes) has several lives; its
slope is fitted within lives (one intercept per pid, one common slope), each life's first
`life_warmup` seconds left out, so a restart's drop and its start-up growth do not count as a
trend of the program. A life of 7 minutes never fills its page caches, so its within-life slope
is mostly their filling; "across lives" is the slope, over the run, of RSS less the bounded
structures at the end of each ended life: what each new life needs more of shows there.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.bench.soak_sampler import Sample


@dataclass
class ProcessFigures:
    """One process after warm-up."""

    process: str
    lives: int
    samples: int
    rss_first: float
    rss_last: float
    rss_slope_mb_h: float | None
    beyond_slope_mb_h: float | None
    across_lives_mb_h: float | None
    fds: tuple[int, int]
    tasks: tuple[float, float] | None
    threads: tuple[float, float] | None
    sqlite_mb: float | None
    cache_points: float | None


def pooled_slope(lives: Iterable[list[tuple[float, float]]]) -> float | None:
    """Least-squares slope with one intercept per life: sum of within-life covariances."""
    num = den = 0.0
    for points in lives:
        if len(points) < 2:
            continue
        mx = sum(x for x, _ in points) / len(points)
        my = sum(y for _, y in points) / len(points)
        num += sum((x - mx) * (y - my) for x, y in points)
        den += sum((x - mx) ** 2 for x, _ in points)
    return num / den if den > 0 else None


def across_lives(rows: list[Sample], warmup_s: float) -> float | None:
    """Slope (MB/h) of RSS less bounded structures at the last sample of each ended life after
    warm-up; None for a process with fewer than three such lives."""
    last: dict[int, Sample] = {}
    for row in rows:
        if row.rss_mb is not None:
            last[row.pid] = row
    ends = [(r.elapsed_s / 3600, (r.rss_mb or 0.0) - bounded_mb(r)) for r in list(last.values())[:-1]]
    ends = [(hour, rss) for hour, rss in ends if hour * 3600 >= warmup_s]
    return pooled_slope([ends]) if len(ends) >= 3 else None


def bounded_mb(sample: Sample) -> float:
    """MB of a sample's RSS held by bounded structures (SQLite heap, cache window, Redis data)."""
    held = sample.sqlite_mb or 0.0
    held += (sample.cache_points or 0.0) * 25 / 1e6
    held += sample.redis_used_mb or 0.0
    return held


def _span(values: list[float]) -> tuple[float, float] | None:
    return (min(values), max(values)) if values else None


def figures(samples: list[Sample], warmup_s: float, life_warmup_s: float) -> list[ProcessFigures]:
    """Per process: RSS slope in MB/hour and the fds/tasks range, after warm-up."""
    by_process: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_process[sample.process].append(sample)
    result = []
    for process, rows in sorted(by_process.items()):
        life_start: dict[int, float] = {}
        for row in rows:
            life_start.setdefault(row.pid, row.elapsed_s)
        kept = [
            r
            for r in rows
            if r.elapsed_s >= warmup_s
            and r.rss_mb is not None
            and (len(life_start) == 1 or r.elapsed_s >= life_start[r.pid] + life_warmup_s)
        ]
        if not kept:
            continue
        lives: dict[int, list[tuple[float, float]]] = defaultdict(list)
        beyond: dict[int, list[tuple[float, float]]] = defaultdict(list)
        for r in kept:
            assert r.rss_mb is not None
            lives[r.pid].append((r.elapsed_s / 3600, r.rss_mb))
            beyond[r.pid].append((r.elapsed_s / 3600, r.rss_mb - bounded_mb(r)))
        fds = [r.fds for r in kept if r.fds is not None]
        last = kept[-1]
        result.append(
            ProcessFigures(
                process,
                len(life_start),
                len(kept),
                kept[0].rss_mb or 0.0,
                last.rss_mb or 0.0,
                pooled_slope(lives.values()),
                pooled_slope(beyond.values()),
                across_lives(rows, warmup_s) if len(life_start) > 1 else None,
                (min(fds), max(fds)) if fds else (0, 0),
                _span([r.tasks for r in kept if r.tasks is not None]),
                _span([r.threads for r in kept if r.threads is not None]),
                last.sqlite_mb,
                last.cache_points,
            )
        )
    return result


def table(rows: list[ProcessFigures]) -> str:
    head = [
        "process",
        "lives",
        "RSS MB first",
        "last",
        "slope MB/h",
        "beyond bounded MB/h",
        "across lives MB/h",
        "fds",
        "tasks",
        "threads",
    ]
    lines = [head]
    for r in rows:
        lines.append(
            [
                r.process,
                str(r.lives),
                f"{r.rss_first:.1f}",
                f"{r.rss_last:.1f}",
                "-" if r.rss_slope_mb_h is None else f"{r.rss_slope_mb_h:+.2f}",
                "-" if r.beyond_slope_mb_h is None else f"{r.beyond_slope_mb_h:+.2f}",
                "-" if r.across_lives_mb_h is None else f"{r.across_lives_mb_h:+.2f}",
                f"{r.fds[0]}-{r.fds[1]}",
                "-" if r.tasks is None else f"{r.tasks[0]:.0f}-{r.tasks[1]:.0f}",
                "-" if r.threads is None else f"{r.threads[0]:.0f}-{r.threads[1]:.0f}",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    )


class CsvSink:
    """Writes each sample as it is taken, so a soak cut short still leaves its data."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._out = path.open("w", newline="")
        self._writer = csv.DictWriter(self._out, fieldnames=Sample.columns())
        self._writer.writeheader()

    def __call__(self, sample: Sample) -> None:
        self._writer.writerow(sample.row())
        self._out.flush()

    def close(self) -> None:
        self._out.close()


def write_png(
    samples: list[Sample],
    path: Path,
    *,
    title: str,
    warmup_s: float,
    events: list[tuple[float, str]],
) -> None:
    """RSS per process over time (top), open fds and asyncio tasks (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_process: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_process[sample.process].append(sample)
    fig, (rss_ax, fd_ax, task_ax) = plt.subplots(
        3, 1, figsize=(11, 10), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]}
    )
    for process, rows in sorted(by_process.items()):
        minutes = [r.elapsed_s / 60 for r in rows]
        rss_ax.plot(minutes, [r.rss_mb for r in rows], label=process, linewidth=1)
        fd_ax.plot(minutes, [r.fds for r in rows], linewidth=1)
        if any(r.tasks is not None for r in rows):
            task_ax.plot(minutes, [r.tasks for r in rows], label=process, linewidth=1)
    for ax in (rss_ax, fd_ax, task_ax):
        ax.axvline(warmup_s / 60, color="grey", linestyle="--", linewidth=0.8)
        ax.grid(alpha=0.3)
    for at, what in events:
        if what.startswith("db-writer"):
            rss_ax.axvline(at / 60, color="tab:red", alpha=0.15, linewidth=0.8)
        elif what.startswith("redis"):
            rss_ax.axvline(at / 60, color="tab:purple", alpha=0.3, linewidth=0.8)
    rss_ax.set_ylabel("RSS MB")
    rss_ax.set_title(title)
    rss_ax.legend(fontsize=8, ncol=3, loc="upper left")
    fd_ax.set_ylabel("open fds")
    task_ax.set_ylabel("asyncio tasks")
    task_ax.set_xlabel(
        "minutes (dashed: end of warm-up; red: db-writer kill; purple: Redis restart)"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_csv(path: Path) -> list[Sample]:
    """The samples a soak wrote (`CsvSink`), to report again with other warm-ups."""
    kinds = Sample.__annotations__  # strings ("int | None"): `from __future__ import annotations`
    samples = []
    with path.open(newline="") as source:
        for row in csv.DictReader(source):
            values: dict[str, object] = {}
            for name, text in row.items():
                if text == "":
                    values[name] = None
                elif name == "process":
                    values[name] = text
                elif "int" in kinds[name] and "float" not in kinds[name]:
                    values[name] = int(float(text))
                else:
                    values[name] = float(text)
            samples.append(Sample(**values))  # type: ignore[arg-type]
    return samples


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the slopes table of a soak's CSV")
    parser.add_argument("csv", type=Path)
    parser.add_argument("--warmup", type=float, default=20.0, help="minutes")
    parser.add_argument("--life-warmup", type=float, default=120.0, help="s")
    args = parser.parse_args()
    print(table(figures(read_csv(args.csv), args.warmup * 60, args.life_warmup)))
