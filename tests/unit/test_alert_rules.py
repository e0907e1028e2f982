"""The alerting rules ask only for series (and labels) the hub really exports, and the
alerts the issue asks for are there: a permanent dead letter, and deliveries held
behind one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

import hub.connectors.runtime.metrics
import hub.metrics  # noqa: F401 - registers the hub's series

RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "ketenhub-alerts.yaml"
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
