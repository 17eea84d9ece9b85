"""Debian's real prometheus with the shipped grafana/prometheus.yml scrapes every program of a
running tree; every expression of every Grafana dashboard returns data through its HTTP API."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio

from tests.helpers import eventually, free_port
from tests.integration.tree_support import ROOT, Tree, shared_tree, tree_symbols
from tests.unit.test_dashboards import all_expressions, exported, for_prometheus, parse

__all__ = ["shared_tree"]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def prometheus(shared_tree: Tree, tmp_path: Path) -> Iterator[str]:
    """prometheus on a free port: the shipped config (scraping every second) and targets file
    naming this tree's metrics ports."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (.ci/run installs Debian's package)")
    shipped = (ROOT / "grafana" / "prometheus.yml").read_text()
    config = re.sub(r"(scrape_interval|evaluation_interval): \S+", r"\1: 1s", shipped)
    (tmp_path / "prometheus.yml").write_text(config)
    (tmp_path / "targets").mkdir()
    targets = [
        {"targets": [f"127.0.0.1:{port}"], "labels": {"program": program}}
        for program, port in shared_tree.metrics_ports().items()
    ]
    (tmp_path / "targets" / "tree.json").write_text(json.dumps(targets))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def query(http: aiohttp.ClientSession, prometheus: str, expr: str) -> list[object]:
    async with http.get(f"{prometheus}/api/v1/query", params={"query": expr}) as response:
        body = await response.json()
    assert body["status"] == "success", (expr, body)
    result = body["data"]["result"]
    return result if isinstance(result, list) else [result]


async def all_targets_up(http: aiohttp.ClientSession, prometheus: str, count: int) -> bool:
    try:
        async with http.get(f"{prometheus}/api/v1/targets") as response:
            body = await response.json()
    except aiohttp.ClientError:
        return False
    active = body["data"]["activeTargets"]
    return len(active) == count and all(t["health"] == "up" for t in active)


async def test_every_dashboard_expression_returns_data(
    shared_tree: Tree, prometheus: str, http: aiohttp.ClientSession
) -> None:
    programs = shared_tree.metrics_ports()
    await eventually(
        lambda: all_targets_up(http, prometheus, len(programs)),
        timeout=60,
        interval=0.5,
        what="every program scraped",
    )
    # traffic for the client and API panels: a subscribed websocket client and some requests
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(shared_tree.front_url, transports=["websocket"], wait_timeout=10)
    try:
        await client.emit("subscribe", {"symbol": (await tree_symbols(shared_tree))[0]})

        async def some_requests() -> None:
            for path in ("/healthz", "/readyz", "/api/v1/symbols", "/api/v1/does-not-exist"):
                async with http.get(shared_tree.front_url + path) as response:
                    await response.read()

        expressions = all_expressions()
        empty: list[str] = []

        async def everything_has_data() -> bool:
            # data: at least one series with a number (not NaN: a quantile or ratio over a
            # window where nothing happened is no data)
            await some_requests()  # keeps the request rates above zero between scrapes
            empty.clear()
            for dashboard, panel, expr in expressions:
                if not any(map(_finite, await query(http, prometheus, for_prometheus(expr)))):
                    empty.append(f"{dashboard} / {panel}: {expr}")
            return not empty

        try:
            await eventually(
                everything_has_data, timeout=60, interval=1.0, what="data for every expression"
            )
        except AssertionError:
            raise AssertionError("expressions without data:\n" + "\n".join(empty)) from None
    finally:
        await client.disconnect()

    # and every metric the dashboards name is really exported by some program of the tree
    families = {name for _, _, expr in expressions for name in parse(expr)[0]}
    exposed = ""
    for port in programs.values():
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            exposed += await response.text()
    served = set(re.findall(r"^# TYPE (\S+) ", exposed, flags=re.MULTILINE))
    known = exported()
    for name in families:
        assert name in known
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in served or family in served, f"{name} is not served by any program"


def _finite(series: object) -> bool:
    value = series.get("value") if isinstance(series, dict) else None
    return isinstance(value, list) and len(value) == 2 and math.isfinite(float(value[1]))
