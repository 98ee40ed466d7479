"""``python -m stactools_glofnet COMMAND ...``: the ``stac glofnet`` commands without the ``stac`` start-up.

The ``stac`` CLI imports stactools' own commands (rasterio, pystac, the validators) and every
plugin before it runs one; that start-up alone takes longer than an unchanged republish. Here the
same ``glofnet`` group runs by itself, e.g. ``python -m stactools_glofnet publish CATALOG s3://B/P``.
"""

from __future__ import annotations

import click

from stactools_glofnet.commands import create_glofnet_command


def main() -> None:
    """Run the ``glofnet`` command group."""
    create_glofnet_command(click.Group())(prog_name="python -m stactools_glofnet")


if __name__ == "__main__":
    main()
