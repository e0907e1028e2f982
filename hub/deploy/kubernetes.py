"""The hub's Kubernetes workloads, generated from the installed connectors so that each
runs as its own Deployment under its own Kafka principal (``hub.deploy.access``).

- ``ketenhub-router``: the router, its case look-up and the label re-send; three
  replicas in one consumer group, so the partitions spread over them.
- ``ketenhub-console``: the operations console and the lag gauges.
- ``ketenhub-in-<name>`` per inbound connector: its webhook, behind one Ingress that
  sends ``/connectors/<name>/`` to it.
- ``ketenhub-out-<name>`` per outbound connector: its consumer group and its partner.

Each has liveness (``/healthz``) and readiness (``/readyz``) probes, a
PodDisruptionBudget, the restricted security context, the keys and secrets as
mounted files, and its KafkaUser's certificate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub.connectors.base import Connector, InboundConnector
from hub.deploy.access import acl_plan

NAMESPACE = "ketenhub"
IMAGE = "ketenhub:0.1.0"
PORT = 8480


def _probe(path: str, period_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period_s,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _volumes(principal: str) -> list[dict[str, Any]]:
    return [
        {"name": "keys", "secret": {"secretName": "ketenhub-keys", "defaultMode": 0o400}},
        {"name": "secrets", "secret": {"secretName": "ketenhub-secrets", "defaultMode": 0o400}},
        {"name": "kafka", "secret": {"secretName": principal, "defaultMode": 0o400}},
        {"name": "kafka-ca", "secret": {"secretName": "ketenhub-cluster-ca-cert"}},
        {"name": "data", "emptyDir": {}},
    ]


def deployment(
    name: str, args: Sequence[str], *, replicas: int, principal: str, role: str
) -> list[dict[str, Any]]:
    """One workload: its Deployment and its PodDisruptionBudget."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "ketenhub"}
    pod_labels = {**labels, "ketenhub.nl/role": role}
    container = {
        "name": "hub",
        "image": IMAGE,
        "args": list(args),
        "ports": [{"name": "http", "containerPort": PORT}],
        "envFrom": [{"configMapRef": {"name": "ketenhub-config"}}],
        "env": [
            {"name": "HUB_KAFKA__SSL_CERTFILE", "value": "/etc/ketenhub/kafka/user.crt"},
            {"name": "HUB_KAFKA__SSL_KEYFILE", "value": "/etc/ketenhub/kafka/user.key"},
            {"name": "HUB_KAFKA__CLIENT_ID", "value": name},
        ],
        "livenessProbe": _probe("/healthz", 10, 3),
        "readinessProbe": _probe("/readyz", 5, 2),
        "startupProbe": _probe("/healthz", 2, 30),
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "keys", "mountPath": "/etc/ketenhub/keys", "readOnly": True},
            {"name": "secrets", "mountPath": "/etc/ketenhub/secrets", "readOnly": True},
            {"name": "kafka", "mountPath": "/etc/ketenhub/kafka", "readOnly": True},
            {"name": "kafka-ca", "mountPath": "/etc/ketenhub/kafka-ca", "readOnly": True},
            {"name": "data", "mountPath": "/var/lib/ketenhub"},
        ],
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 15,
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 10001,
                            "runAsGroup": 10001,
                            "fsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                        "volumes": _volumes(principal),
                    },
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "maxUnavailable": 1 if replicas > 1 else 0,
                "selector": {"matchLabels": labels},
            },
        },
    ]


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def _ingress(paths: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "ketenhub",
            "namespace": NAMESPACE,
            "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "1m"},
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["ketenhub.example.nl"], "secretName": "ketenhub-tls"}],
            "rules": [
                {
                    "host": "ketenhub.example.nl",
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": "Prefix",
                                "backend": {"service": {"name": svc, "port": {"name": "http"}}},
                            }
                            for path, svc in paths
                        ]
                    },
                }
            ],
        },
    }


def workloads(connectors: Mapping[str, type[Connector[Any]]]) -> list[dict[str, Any]]:
    """Every Deployment, PodDisruptionBudget, Service and the Ingress of the hub."""
    out = [
        *deployment(
            "ketenhub-router",
            ["run", "--component", "router"],
            replicas=3,
            principal="ketenhub-router",
            role="router",
        ),
        *deployment(
            "ketenhub-console",
            ["run", "--component", "console"],
            replicas=2,
            principal="ketenhub-console",
            role="console",
        ),
        _service("ketenhub-console"),
    ]
    paths = [("/console", "ketenhub-console")]
    for principal in acl_plan(connectors):
        for name in principal.connectors:
            inbound = issubclass(connectors[name], InboundConnector)
            args = ["run", "--component", "connectors", "--connector", name]
            out.extend(
                deployment(
                    principal.name,
                    args,
                    replicas=2,
                    principal=principal.name,
                    role="inbound" if inbound else "outbound",
                )
            )
            if inbound:
                out.append(_service(principal.name))
                paths.append((f"/connectors/{name}/", principal.name))
    out.append(_ingress(paths))
    return out
