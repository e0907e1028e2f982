"""The deployment files: the compose file, the Dockerfile and the Kubernetes manifests
are valid and hold what a national deployment needs; the generated ones (topics, ACLs,
workloads) are current with the code; each principal may do no more than it needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from aiokafka.admin import NewTopic

from hub.bus import admin
from hub.bus.admin import ensure_topics
from hub.cli.deploy import kafka_yaml, workloads_yaml
from hub.connectors.base import InboundConnector, OutboundConnector
from hub.connectors.registry import installed
from hub.core.topics import ALL_TOPICS, DEAD_LETTER, ROUTED_TOPICS, topic_config
from hub.deploy.access import acl_plan
from hub.settings import KafkaSettings

DEPLOY = Path(__file__).parents[2] / "deploy"
K8S = DEPLOY / "k8s"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _manifests() -> list[dict[str, Any]]:
    files = [p for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]
    return [d for p in files for d in _documents(p)]


def test_the_generated_manifests_are_current() -> None:
    """`hub deploy kafka` and `hub deploy workloads` wrote these; regenerate on change."""
    assert (K8S / "kafka.yaml").read_text() == kafka_yaml()
    assert (K8S / "workloads.yaml").read_text() == workloads_yaml()


def test_the_manifests_are_valid_yaml_with_every_kind_a_deployment_needs() -> None:
    manifests = _manifests()
    kinds = {d["kind"] for d in manifests}
    assert kinds >= {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "Ingress",
        "NetworkPolicy",
        "Job",
        "KafkaTopic",
        "KafkaUser",
    }
    for document in manifests:
        assert document["apiVersion"], document
        assert document["metadata"]["name"], document
    listed = set(_documents(K8S / "kustomization.yaml")[0]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_every_deployment_is_probed_unprivileged_and_has_a_disruption_budget() -> None:
    manifests = _manifests()
    deployments = [d for d in manifests if d["kind"] == "Deployment"]
    budgets = {d["metadata"]["name"] for d in manifests if d["kind"] == "PodDisruptionBudget"}
    names = {d["metadata"]["name"] for d in deployments}
    assert {"ketenhub-router", "ketenhub-console"} <= names
    assert budgets >= names
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["args"][:2] == ["run", "--component"]
    secrets = [d for d in manifests if d["kind"] == "Secret"]
    assert all(not any(d["stringData"].values()) for d in secrets), "a secret value in the repo"


def test_every_topic_is_a_kafka_topic_with_the_documented_settings() -> None:
    topics = {
        d["spec"]["topicName"]: d["spec"]
        for d in _documents(K8S / "kafka.yaml")
        if d["kind"] == "KafkaTopic"
    }
    assert set(topics) == {t.name for t in ALL_TOPICS}
    for spec in ALL_TOPICS:
        assert topics[spec.name]["partitions"] == spec.partitions
        assert topics[spec.name]["replicas"] == 3
        assert topics[spec.name]["config"]["retention.ms"] == str(spec.retention_ms)
        assert topics[spec.name]["config"]["min.insync.replicas"] == "2"


class _RecordingAdmin:
    """Stands in for aiokafka's admin client: keeps what ``ensure_topics`` would create."""

    def __init__(self) -> None:
        self.created: list[NewTopic] = []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_topics(self) -> list[str]:
        return []

    async def create_topics(self, new: list[NewTopic]) -> SimpleNamespace:
        self.created.extend(new)
        return SimpleNamespace(topic_errors=[(t.name, 0) for t in new])


async def test_a_manifest_topic_is_configured_as_topics_create_configures_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`hub topics create` against the manifests' replication factor sends exactly the
    partitions, replicas and configuration of the KafkaTopic resources."""
    topics = {
        d["spec"]["topicName"]: d["spec"]
        for d in _documents(K8S / "kafka.yaml")
        if d["kind"] == "KafkaTopic"
    }
    replicas = {spec["replicas"] for spec in topics.values()}
    assert len(replicas) == 1
    recording = _RecordingAdmin()
    monkeypatch.setattr(admin, "_admin", lambda _settings: recording)
    settings = KafkaSettings(replication_factor=replicas.pop())
    created = await ensure_topics(settings, ALL_TOPICS)
    assert created == [t.name for t in ALL_TOPICS]
    sent = {t.name: t for t in recording.created}
    assert set(sent) == set(topics)
    for name, spec in topics.items():
        assert sent[name].topic_configs == spec["config"], name
        assert sent[name].num_partitions == spec["partitions"]
        assert sent[name].replication_factor == spec["replicas"]


def test_a_single_broker_gets_one_in_sync_replica_and_three_get_two() -> None:
    """With fewer replicas than min.insync.replicas no acks=all write could succeed."""
    assert topic_config(DEAD_LETTER, 1)["min.insync.replicas"] == "1"
    assert topic_config(DEAD_LETTER, 3)["min.insync.replicas"] == "2"
    assert topic_config(DEAD_LETTER, 3)["retention.ms"] == str(DEAD_LETTER.retention_ms)


def test_topics_and_users_use_the_strimzi_v1_api() -> None:
    """Strimzi 0.49+ serves kafka.strimzi.io/v1: spec required, an ACL's `operation`
    gone, its `operations` list required."""
    kinds = ("KafkaTopic", "KafkaUser")
    strimzi = [d for d in _documents(K8S / "kafka.yaml") if d["kind"] in kinds]
    assert {d["kind"] for d in strimzi} == {"KafkaTopic", "KafkaUser"}
    for document in strimzi:
        assert document["apiVersion"] == "kafka.strimzi.io/v1", document["metadata"]["name"]
        assert document["spec"], document["metadata"]["name"]
    users = [d for d in strimzi if d["kind"] == "KafkaUser"]
    for user in users:
        assert user["spec"]["authorization"]["type"] == "simple"
        for acl in user["spec"]["authorization"]["acls"]:
            assert "operation" not in acl
            assert acl["operations"], acl
            assert acl["resource"]["type"] in ("topic", "group")


def test_each_connector_principal_may_touch_only_its_own_topics() -> None:
    connectors = installed()
    plan = {p.name: p for p in acl_plan(connectors)}
    for name, cls in connectors.items():
        if issubclass(cls, InboundConnector):
            principal = plan[f"ketenhub-in-{name}"]
            assert principal.reads == ()
            assert principal.groups == ()
            assert set(principal.writes) == set(cls.topics())
            assert set(principal.writes) <= {t.name for t in ROUTED_TOPICS}
        elif issubclass(cls, OutboundConnector):
            principal = plan[f"ketenhub-out-{name}"]
            (topic,) = principal.reads
            assert topic == f"delivery.{cls.partner.split(':')[0]}.v1"
            assert principal.writes == (DEAD_LETTER.name,)
    users = {
        d["metadata"]["name"]: d["spec"]["authorization"]["acls"]
        for d in _documents(K8S / "kafka.yaml")
        if d["kind"] == "KafkaUser"
    }
    assert set(users) == set(plan)
    pi = users["ketenhub-out-pi-backoffice"]
    assert {a["resource"]["name"] for a in pi if "Read" in a["operations"]} == {
        "delivery.pi.v1",
        "outbound-pi-backoffice",
    }


def test_the_compose_file_runs_three_kraft_brokers_postgres_two_hubs_and_the_console() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    brokers = [s for n, s in services.items() if n.startswith("kafka-")]
    assert len(brokers) == 3
    for broker in brokers:
        env = broker["environment"]
        assert broker["image"].startswith("apache/kafka:")
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["hub"]["deploy"]["replicas"] == 2
    assert services["console"]["command"] == ["run", "--component", "console"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["topics"]["command"] == ["topics", "create"]
    assert services["hub"]["environment"]["HUB_KAFKA__IDEMPOTENT_PRODUCER"] == "true"


def test_the_compose_file_validates_with_docker_compose() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine; `docker compose config` not run")
    found = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if found.returncode != 0:
        pytest.skip("the docker client has no compose plugin; `docker compose config` not run")
    secrets = DEPLOY / "secrets"
    made = not secrets.exists()
    secrets.mkdir(exist_ok=True)
    names = ("pseudonym.key", "master.key", "session.key", "postgres-password", "connectors.json")
    try:
        for name in names:
            (secrets / name).touch()
        checked = subprocess.run(
            [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
    finally:
        if made:
            shutil.rmtree(secrets)


def test_the_image_is_multi_stage_non_root_with_the_hub_as_entrypoint() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2
    assert "\nUSER 10001" in text
    assert 'ENTRYPOINT ["hub"]' in text
