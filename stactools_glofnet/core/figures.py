"""Figure set-up every wing shares: a headless matplotlib figure saved as a reproducible PNG."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def png_figure(
    path: Path, *, rows: int = 1, size: tuple[float, float] = (8, 3.2), sharex: bool = False
) -> Iterator[tuple[Any, Any]]:
    """Yield ``(figure, axes)``; on success lay it out and save it to ``path`` as PNG.

    The Agg backend needs no display; the PNG carries no software tag, so the bytes depend only
    on what is drawn. The figure is closed either way.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(rows, 1, figsize=size, dpi=100, sharex=sharex)
    try:
        yield figure, axes
        figure.tight_layout()
        figure.savefig(path, format="png", metadata={"Software": None})
    finally:
        plt.close(figure)
