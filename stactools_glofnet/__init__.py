"""stactools-glofnet: publishes GLOFNet (Shisper Glacier GLOF data) as a STAC catalog."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def register_plugin(registry: Any) -> None:
    """Register the ``glofnet`` command group with the ``stac`` CLI of stactools."""
    from stactools_glofnet import commands

    registry.register_subcommand(commands.create_glofnet_command)


__all__ = ["__version__", "register_plugin"]
