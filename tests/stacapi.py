"""``stac glofnet serve`` as the tests run it: a real subprocess on 127.0.0.1, stopped by its PID."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.processes import stop
from tests.s3server import free_ports


def stac_command() -> str:
    """The ``stac`` console script of this environment."""
    return str(Path(sys.executable).parent / "stac")


@contextmanager
def stac_api(catalog: str, timeout: float = 60) -> Iterator[str]:
    """Run ``stac glofnet serve CATALOG`` on a free port; yield its URL; stop it afterwards."""
    (port,) = free_ports(1)
    process = subprocess.Popen(
        [stac_command(), "glofnet", "serve", catalog, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.communicate()[0].decode(errors="replace")
                raise RuntimeError(f"stac glofnet serve did not start:\n{output}")
            time.sleep(0.2)
        yield url
    finally:
        stop(process, timeout=15)
        if process.stdout is not None:
            process.stdout.close()
