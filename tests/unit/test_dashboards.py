"""Grafana dashboards and the Prometheus config name only what the code exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from actors import metrics
from actors.topology.roles import metrics_port
from actors.treectl.targets import render_targets
from tests.helpers import make_settings

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
TARGET_LABELS = {"job", "instance", "program"}  # added by Prometheus and grafana/targets/*.json
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
}
RATE_INTERVAL = "1m"


def exported() -> dict[str, set[str]]:
    """Sample names the code exports, each with the label names it may carry."""
    names: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        labels = set(value._labelnames)
        for family in value.describe():
            if family.type == "counter":
                names[family.name + "_total"] = labels
            elif family.type == "histogram":
                for suffix in ("_sum", "_count"):
                    names[family.name + suffix] = labels
                names[family.name + "_bucket"] = labels | {"le"}
            else:
                names[family.name] = labels
    return names


def expressions(dashboard: dict[str, object]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) of every query in a dashboard, rows and nested panels included."""

    def walk(panels: object) -> Iterator[tuple[str, str]]:
        for panel in panels if isinstance(panels, list) else []:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield panel.get("title", ""), target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(dashboard.get("panels", []))
    templating = dashboard.get("templating", {})
    for variable in templating.get("list", []) if isinstance(templating, dict) else []:
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and query:
            yield f"variable {variable.get('name')}", str(query)


def for_prometheus(expr: str) -> str:
    """The expression as Grafana sends it (its interval variables substituted)."""
    return expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", RATE_INTERVAL)


def parse(expr: str) -> tuple[list[str], set[str]]:
    """Metric names an expression selects, and the label names it groups or matches by."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', for_prometheus(expr))
    text = re.sub(r"\[[^\]]*\]", "", text)
    labels: set[str] = set()
    grouping = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"
    for body in re.findall(r"\{([^}]*)\}", text):
        labels |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", body))
    text = re.sub(r"\{[^}]*\}", " ", text)
    for clause in re.findall(grouping, text):
        labels |= {name.strip() for name in clause.split(",") if name.strip()}
    text = re.sub(grouping, " ", text)
    names = []
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        after = text[match.end() :].lstrip()
        word = match.group(0)
        if after.startswith("(") or word.lower() in KEYWORDS:
            continue  # a function, an aggregation or an operator
        names.append(word)
    return names, labels


def all_expressions() -> list[tuple[str, str, str]]:
    found = []
    for path in DASHBOARDS:
        for title, expr in expressions(json.loads(path.read_text())):
            found.append((path.name, title, expr))
    return found


def test_there_are_the_four_dashboards() -> None:
    names = {path.stem for path in DASHBOARDS}
    assert names == {"feed-health", "pipeline", "storage", "clients-api"}
    uids = [json.loads(path.read_text())["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize(("dashboard", "panel", "expr"), all_expressions())
def test_every_expression_names_only_exported_metrics(
    dashboard: str, panel: str, expr: str
) -> None:
    known = exported()
    names, labels = parse(expr)
    assert names, f"{dashboard} / {panel}: no metric in {expr!r}"
    unknown = [name for name in names if name not in known]
    assert not unknown, f"{dashboard} / {panel}: {unknown} not in actors/metrics.py"
    allowed = set().union(*(known[name] for name in names)) | TARGET_LABELS
    assert labels <= allowed, f"{dashboard} / {panel}: labels {labels - allowed} not on {names}"


def test_every_panel_uses_the_provisioned_datasource() -> None:
    provisioned = (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    uid = re.search(r"uid:\s*(\S+)", provisioned)
    assert uid is not None
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == uid.group(1), (path.name, panel["title"])
            assert all(t["datasource"]["uid"] == uid.group(1) for t in panel["targets"])


def test_the_parser_catches_what_it_must() -> None:
    names, labels = parse('sum by (route, status) (rate(http_total{status=~"5.."}[5m]))')
    assert names == ["http_total"] and labels == {"route", "status"}
    quantile = "histogram_quantile(0.9, sum by (le) (rate(x_bucket[$__rate_interval])))"
    assert parse(quantile)[0] == ["x_bucket"]
    ratio = "sum(rate(a_total[1m])) / sum(rate(b_count[1m])) or vector(0)"
    assert parse(ratio)[0] == ["a_total", "b_count"]
    assert parse('sum without (shard) (bs_feed_connected{shard!="x"}) offset 5m')[1] == {"shard"}


def test_scrape_targets_match_the_programs_metrics_ports() -> None:
    settings = make_settings(METRICS_BASE_PORT="9400", FEED_SHARDS="2", FRONTS="2")
    expected = {
        "front_00": metrics_port(settings, "front", (0, 2)),
        "front_01": metrics_port(settings, "front", (1, 2)),
        "cache-writer": metrics_port(settings, "cache-writer", (0, 1)),
        "db-writer": metrics_port(settings, "db-writer", (0, 1)),
        "feed_00": metrics_port(settings, "feed", (0, 2)),
        "feed_01": metrics_port(settings, "feed", (1, 2)),
    }
    assert len(set(expected.values())) == len(expected)
    shipped = {}
    for group in json.loads(render_targets(settings)):  # what `binance-stats tree start` writes
        for target in group["targets"]:
            shipped[group["labels"]["program"]] = int(target.rsplit(":", 1)[1])
    assert shipped == expected
    config = (GRAFANA / "prometheus.yml").read_text()
    assert "targets/*.json" in config
