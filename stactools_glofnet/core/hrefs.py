"""What an href in a STAC document points to: a remote URL, an absolute local path, or a relative path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

HrefKind = Literal["remote", "absolute", "relative"]


def href_kind(href: str) -> HrefKind:
    """Whether ``href`` is a remote URL (any scheme but ``file``), an absolute local path (``file:``
    or a leading ``/``), or a path relative to the document holding it.

    A one-letter scheme is a Windows drive letter, not a URL scheme.
    """
    scheme = urlsplit(href).scheme
    if len(scheme) > 1 and scheme != "file":
        return "remote"
    if scheme == "file" or href.startswith("/"):
        return "absolute"
    return "relative"


def relative_href(href: str, directory: Path) -> str:
    """An absolute local ``href`` as ``./...`` relative to ``directory``; URLs and relative hrefs as given."""
    if "://" in href or not os.path.isabs(href):
        return href
    return "./" + Path(os.path.relpath(href, directory)).as_posix()
