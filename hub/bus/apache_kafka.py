"""Apache Kafka 4 on loopback, in KRaft mode, from the jars Maven resolved at install time.

One broker, or a cluster of three (each node both broker and controller, replication
factor 3, ``min.insync.replicas=2``), for the tests on the production path and for
``hub up --broker kafka``. Nothing is downloaded here: ``make`` runs Maven over
``deploy/kafka/pom.xml`` into ``<venv>/kafka-libs``; without Java or those jars,
:func:`unavailable` says why and the tests skip with that reason.
"""

from __future__ import annotations

import base64
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from hub.bus.embedded import EmbeddedBrokerError, answers_kafka, die_with_parent
from hub.state.private_files import make_private_dir

DEFAULT_LIBS = Path(sys.prefix) / "kafka-libs"
"""Where ``make`` has Maven copy the broker's jars: beside the virtual environment."""
_BROKER_JAR = "kafka_2.13-*.jar"
_JVM = ("-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss1m")
"""Small heaps and a cheap JIT: a test broker starts in seconds on two cores."""
_LOG4J = """\
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
"""


_HANDED_OUT: set[int] = set()


def listener_port(host: str = "127.0.0.1") -> int:
    """A free port below the kernel's range for outgoing connections: a node killed and
    started again binds the same port, which a client's connection could otherwise have
    taken meanwhile."""
    low = _ephemeral_low()
    while True:
        port = random.randrange(10_000, low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def unavailable(libs: Path = DEFAULT_LIBS) -> str | None:
    """Why Apache Kafka cannot run here, or None when it can."""
    if shutil.which("java") is None:
        return "no Java runtime on the PATH (Apache Kafka needs Java 17 or newer)"
    if not any(libs.glob(_BROKER_JAR)):
        how = "make (it runs Maven over deploy/kafka/pom.xml)"
        if shutil.which("mvn") is None:
            return f"no Apache Kafka jars in {libs}, and no Maven to resolve them with {how}"
        return f"no Apache Kafka jars in {libs}: run {how}"
    return None


@dataclass
class KafkaNode:
    """One KRaft node: broker and controller in one JVM."""

    node_id: int
    port: int
    controller_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"


class ApacheKafka:
    """Formats, starts, kills and restarts Apache Kafka nodes on loopback."""

    def __init__(
        self,
        brokers: int = 1,
        *,
        host: str = "127.0.0.1",
        data_dir: Path | None = None,
        libs: Path = DEFAULT_LIBS,
        startup_timeout_s: float = 90.0,
    ) -> None:
        if brokers not in (1, 3):
            raise ValueError("one broker, or a cluster of three")
        self.host = host
        self.libs = libs
        self.startup_timeout_s = startup_timeout_s
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="apache-kafka-"))
        self.nodes = [
            KafkaNode(n, listener_port(host), listener_port(host), self.data_dir / f"node-{n}")
            for n in range(1, brokers + 1)
        ]

    @property
    def replication_factor(self) -> int:
        return len(self.nodes)

    @property
    def min_insync_replicas(self) -> int:
        return min(2, len(self.nodes))

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{self.host}:{node.port}" for node in self.nodes)

    def properties(self, node: KafkaNode) -> str:
        voters = ",".join(f"{n.node_id}@{self.host}:{n.controller_port}" for n in self.nodes)
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{self.host}:{node.port},CONTROLLER://{self.host}:"
            f"{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": node.directory / "data",
            "default.replication.factor": self.replication_factor,
            "min.insync.replicas": self.min_insync_replicas,
            "offsets.topic.replication.factor": self.replication_factor,
            "transaction.state.log.replication.factor": self.replication_factor,
            "transaction.state.log.min.isr": self.min_insync_replicas,
            "unclean.leader.election.enable": "false",
            # The hub creates its own topics; a name it does not know is a fault to see.
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": 0,
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java(self, node: KafkaNode, main: str, *args: str) -> list[str]:
        java = shutil.which("java") or "java"
        return [
            java,
            *_JVM,
            f"-Dlog4j2.configurationFile={node.directory / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def _format(self) -> None:
        """Write each node's configuration (its ports are new at every start) and format
        the storage of nodes that have none, under the cluster id of those that do."""
        cluster_id = _existing_cluster_id(self.nodes) or _cluster_id()
        formatting = []
        for node in self.nodes:
            make_private_dir(node.directory)
            (node.directory / "server.properties").write_text(self.properties(node))
            (node.directory / "log4j2.properties").write_text(_LOG4J)
            if (node.directory / "data" / "meta.properties").exists():
                continue
            command = self._java(
                node,
                "kafka.tools.StorageTool",
                "format",
                # One argument each: an id that starts with "-" is not read as an option.
                f"--cluster-id={cluster_id}",
                f"--config={node.directory / 'server.properties'}",
            )
            formatting.append(
                subprocess.Popen(  # noqa: S603 (java from the PATH, jars from our venv)
                    command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                )
            )
        for process in formatting:
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                raise EmbeddedBrokerError(
                    "formatting Apache Kafka's storage failed",
                    detail=output.decode(errors="replace")[-2000:],
                )

    def launch(self, node: KafkaNode) -> None:
        """Start one node's JVM; it dies with this process (and this thread)."""
        if node.running:
            return
        with node.log_path.open("ab") as log:
            try:
                node.process = subprocess.Popen(  # noqa: S603 (java, our jars)
                    self._java(node, "kafka.Kafka", str(node.directory / "server.properties")),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=die_with_parent,
                )
            except OSError as exc:
                raise EmbeddedBrokerError("cannot execute java", detail=str(exc)) from None

    def wait_answering(self, node: KafkaNode, timeout_s: float | None = None) -> None:
        """Block until ``node`` answers the Kafka protocol on its listener."""
        deadline = time.monotonic() + (timeout_s or self.startup_timeout_s)
        while time.monotonic() < deadline:
            if node.process is None or node.process.poll() is not None:
                raise EmbeddedBrokerError(
                    f"Apache Kafka node {node.node_id} exited before it was ready",
                    detail=self.log_tail(node),
                )
            if answers_kafka(self.host, node.port):
                return
            time.sleep(0.1)
        raise EmbeddedBrokerError(
            f"Apache Kafka node {node.node_id} did not answer on {self.host}:{node.port}",
            detail=self.log_tail(node),
        )

    def start(self) -> ApacheKafka:
        reason = unavailable(self.libs)
        if reason is not None:
            raise EmbeddedBrokerError("Apache Kafka cannot run here", detail=reason)
        self._format()
        for node in self.nodes:
            self.launch(node)
        try:
            for node in self.nodes:
                self.wait_answering(node)
        except EmbeddedBrokerError:
            self.stop()
            raise
        return self

    def kill(self, node: KafkaNode) -> None:
        """SIGKILL, as a crashed machine would end it."""
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
            node.process.wait()

    def node(self, node_id: int) -> KafkaNode:
        (found,) = [n for n in self.nodes if n.node_id == node_id]
        return found

    def stop(self) -> None:
        """SIGTERM to every node, SIGKILL to whatever has not gone within 20 s."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        deadline = time.monotonic() + 20
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.kill(node)
            node.process = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, node: KafkaNode) -> str:
        if not node.log_path.exists():
            return "no broker output"
        return node.log_path.read_text(errors="replace")[-2000:].strip() or "no broker output"

    def __enter__(self) -> ApacheKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _existing_cluster_id(nodes: list[KafkaNode]) -> str | None:
    """The cluster id a node's storage was formatted with, if any was."""
    for node in nodes:
        meta = node.directory / "data" / "meta.properties"
        if meta.exists():
            for line in meta.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "cluster.id":
                    return value.strip()
    return None


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, and like
    Kafka's own ``Uuid.randomUuid`` never one that starts with "-" (one in 64 would,
    and a command line takes it for an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
