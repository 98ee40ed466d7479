"""stactools-glofnet: publishes GLOFNet (Shisper Glacier GLOF data) as a STAC catalog."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("stactools-glofnet")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def register_plugin(registry: Any) -> None:
    """Register the ``glofnet`` command group with the ``stac`` CLI of stactools."""
    from stactools_glofnet import commands

    registry.register_subcommand(commands.create_glofnet_command)


__all__ = ["__version__", "register_plugin"]
