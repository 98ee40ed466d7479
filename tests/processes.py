"""The processes tests start: servers stopped by their PID (politely first), and how long a
command's start-up takes on this machine as it is loaded now."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any


def stop(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    """Terminate ``process`` if it still runs; kill it if it does not exit within ``timeout`` s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def seconds_to_start(*modules: str) -> float:
    """How long a new ``stac`` process takes, now, to import its CLI and ``modules`` (what a
    command imports before it does anything): the share of a command's time that is start-up,
    which on a loaded machine takes several times as long as on an idle one."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", f"import stactools.cli.cli, {', '.join(modules)}"], check=True)
    return time.monotonic() - started
