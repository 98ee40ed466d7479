"""The one error type the project raises for bad input: it carries the path and the reason."""

from __future__ import annotations

from os import PathLike


class GlofnetError(Exception):
    """A problem with an input or output, reported to users as one line: ``path: reason``."""

    def __init__(self, path: str | PathLike[str], reason: str) -> None:
        """Remember which file or directory is at fault and why."""
        self.path = str(path)
        self.reason = " ".join(reason.split())
        super().__init__(f"{self.path}: {self.reason}")

    def __reduce__(self) -> tuple[type[GlofnetError], tuple[str, str]]:
        """Pickle by path and reason (errors travel back from Dask workers)."""
        return (type(self), (self.path, self.reason))

    def detached(self) -> GlofnetError:
        """The same error without its traceback and chained exceptions, to send or keep as a value.

        dask.distributed installs tblib's exception pickling, which carries ``__context__`` along;
        a chained GDAL error (rasterio's ``CPLE_*``) cannot be unpickled, so a result holding it
        could not travel back from a worker or be restored from the memo store.
        """
        return GlofnetError(self.path, self.reason)
