"""The alerting rules ask only for series (and labels) the hub really exports; the
alerts the issues ask for are there, each with its runbook entry, and fire once however
many pods export a series; the Prometheus Operator's PrometheusRule is the same rules;
promtool checks them and runs their unit tests (ketenhub-alerts.test.yaml)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import hub.connectors.runtime.metrics
import hub.metrics  # noqa: F401 - registers the hub's series
from tests import promtool as promtool_module
from tests.promtool import Unavailable, promtool_or_skip

DEPLOY = Path(__file__).parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "ketenhub-alerts.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "ketenhub-alerts.test.yaml"
RUNBOOK = DEPLOY / "README.md"
OPERATOR = DEPLOY / "k8s" / "monitoring.yaml"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _exported() -> dict[str, set[str]]:
    """Each exported series name with the labels it carries."""
    names: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        if family.name.startswith("ketenhub_"):
            labels = set(getattr(REGISTRY._names_to_collectors.get(family.name), "_labelnames", ()))
            for suffix in SUFFIXES.get(family.type, ("",)):
                names[family.name + suffix] = labels
    return names


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_rule_asks_for_exported_series_and_labels() -> None:
    exported = _exported()
    for rule in _rules():
        for name, selector in re.findall(r"(ketenhub_[a-z_]+)(\{[^}]*\})?", rule["expr"]):
            assert name in exported, f"{rule['alert']}: {name} is not exported"
            for label in re.findall(r"([a-z_]+)=", selector):
                assert label in exported[name], f"{rule['alert']}: {name} has no {label}"


def test_a_permanent_dead_letter_and_a_held_lane_alert() -> None:
    expressions = {rule["alert"]: rule["expr"] for rule in _rules()}
    assert 'error="permanent"' in expressions["KetenhubPartnerRefusedDelivery"]
    assert (
        "ketenhub_held_behind_dead_letters" in expressions["KetenhubDeliveriesHeldBehindDeadLetter"]
    )


@pytest.mark.parametrize(
    ("alert", "series"),
    [
        ("KetenhubPartnerUnreachable", "ketenhub_connector_up"),
        ("KetenhubPartnerUnreachable", "ketenhub_circuit_open"),
        ("KetenhubDeliveryHeldTooLong", "ketenhub_held_oldest_seconds"),
        ("KetenhubDeadLettersOpen", "ketenhub_dead_letter_depth"),
        ("KetenhubLabelIncomplete", "ketenhub_labels_incomplete"),
        ("KetenhubConsumerLag", "ketenhub_consumer_lag"),
        ("KetenhubAuditChainBroken", "ketenhub_audit_chain_intact"),
        ("KetenhubErasureOverdue", "ketenhub_erasure_overdue"),
        ("KetenhubCertificateExpiresSoon", "ketenhub_certificate_expiry_seconds"),
    ],
)
def test_the_alerts_operations_asked_for_are_there(alert: str, series: str) -> None:
    expressions = {rule["alert"]: rule["expr"] for rule in _rules()}
    assert series in expressions[alert]


def test_every_alert_has_a_runbook_entry() -> None:
    """Its annotation names the entry, and deploy/README.md has a heading of that name."""
    headings = {
        re.sub(r"[^a-z0-9-]", "", line.lstrip("#").strip().lower().replace(" ", "-"))
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    for rule in _rules():
        anchor = rule["annotations"]["runbook"].removeprefix("deploy/README.md#")
        assert anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in headings, f"no runbook entry for {rule['alert']}"


def test_the_prometheus_rule_is_the_rules_file() -> None:
    rule, monitor = yaml.safe_load_all(OPERATOR.read_text(encoding="utf-8"))
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    assert monitor["kind"] == "PodMonitor"
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/part-of": "ketenhub"}
    workloads = list(yaml.safe_load_all((DEPLOY / "k8s" / "workloads.yaml").read_text()))
    pods = [w["spec"]["template"] for w in workloads if w and w["kind"] == "Deployment"]
    assert pods
    for pod in pods:
        assert pod["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ketenhub"
        ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", ())}
        assert monitor["spec"]["podMetricsEndpoints"][0]["port"] in ports
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert "monitoring.yaml" in kustomization["resources"]


def test_a_gauge_every_pod_exports_alerts_once() -> None:
    """Every hub pod exports the unlabelled gauges (each reads the one store): a rule
    that compares them bare fires once per pod, so each is aggregated away from the pod."""
    unlabelled = {
        family.name
        for family in REGISTRY.collect()
        if family.name.startswith("ketenhub_")
        and family.type == "gauge"
        and not getattr(REGISTRY._names_to_collectors.get(family.name), "_labelnames", ())
    }
    assert {"ketenhub_dead_letter_depth", "ketenhub_audit_chain_intact"} <= unlabelled
    for rule in _rules():
        for name in unlabelled & set(re.findall(r"ketenhub_[a-z_]+", rule["expr"])):
            aggregated = rf"\b(max|min)\s*((by|without)\s*\([^)]*\)\s*)?\(\s*{name}\b"
            assert re.search(aggregated, rule["expr"]), f"{rule['alert']}: {name} per pod"


@pytest.fixture(scope="module")
def promtool() -> Path:
    return promtool_or_skip()


def _promtool(promtool: Path, *arguments: str | Path) -> None:
    done = subprocess.run(
        [str(promtool), *map(str, arguments)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_rules(promtool: Path, tmp_path: Path) -> None:
    """The rules file, and the PrometheusRule's groups as Prometheus would load them."""
    _promtool(promtool, "check", "rules", RULES)
    rule = next(yaml.safe_load_all(OPERATOR.read_text(encoding="utf-8")))
    groups = tmp_path / "prometheus-rule-groups.yaml"
    groups.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    _promtool(promtool, "check", "rules", groups)


def test_the_alerts_fire_as_their_unit_tests_say(promtool: Path) -> None:
    """The audit-chain alert fires on 0 and not on NaN or no series; a gauge two pods
    export alerts once (ketenhub-alerts.test.yaml)."""
    _promtool(promtool, "test", "rules", RULE_TESTS)


def test_without_apt_get_promtool_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(Unavailable, match="no apt-get"):
        promtool_module.unpacked(tmp_path / "cache")
    with pytest.raises(pytest.skip.Exception, match="could not be unpacked: no apt-get"):
        promtool_module.promtool_or_skip(tmp_path / "cache")
