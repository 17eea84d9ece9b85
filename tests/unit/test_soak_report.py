"""The soak's slope arithmetic: one slope across a restarted process's lives, warm-ups left out,
and the part of RSS its bounded structures hold taken away."""

from __future__ import annotations

import pytest

from tests.bench.soak_report import figures, pooled_slope
from tests.bench.soak_sampler import Sample


def test_pooled_slope_ignores_the_drop_between_lives() -> None:
    first = [(t / 10, 100 + 2 * t / 10) for t in range(10)]
    second = [(1 + t / 10, 60 + 2 * (1 + t / 10)) for t in range(10)]  # restarted lower
    assert pooled_slope([first, second]) == pytest.approx(2.0)
    assert pooled_slope([[(0.0, 1.0)]]) is None


def test_figures_leave_out_warm_ups_and_subtract_bounded_structures() -> None:
    samples = []
    for second in range(0, 7200, 60):
        pid = 1 if second < 3600 else 2
        life_start = 0 if pid == 1 else 3600
        filling = min(second - life_start, 600) / 60  # a page cache growing 1 MB/min, then full
        samples.append(
            Sample(second, "db-writer", pid, rss_mb=50 + filling + second / 3600, sqlite_mb=filling)
        )
    (row,) = figures(samples, warmup_s=300, life_warmup_s=120)
    assert row.lives == 2
    assert row.beyond_slope_mb_h == pytest.approx(1.0)  # only the 1 MB/h beyond the cache
    assert row.rss_slope_mb_h is not None and row.rss_slope_mb_h > 1.0


def test_across_lives_is_the_trend_of_each_lifes_end() -> None:
    samples = []
    for second in range(0, 3600, 30):
        pid, age = divmod(second, 420)  # killed every 7 minutes
        # each life fills a cache at 1 MB/min; every life ends 0.5 MB higher than the one before
        samples.append(Sample(second, "db-writer", pid, rss_mb=60 + age / 60 + pid * 0.5))
    (row,) = figures(samples, warmup_s=0, life_warmup_s=0)
    assert row.rss_slope_mb_h == pytest.approx(60.0, rel=0.05)
    assert row.across_lives_mb_h == pytest.approx(0.5 * 3600 / 420, rel=0.05)
    one_life = [Sample(s, "front", 1, rss_mb=80.0) for s in range(0, 3600, 30)]
    (flat,) = figures(one_life, warmup_s=0, life_warmup_s=0)
    assert flat.across_lives_mb_h is None
