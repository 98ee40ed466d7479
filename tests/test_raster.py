"""COG writing: a write GDAL cannot finish is an OSError naming the file (one line from a command)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

WRITE_UNDER_A_FILE_SIZE_LIMIT = """
import resource, signal, sys
from pathlib import Path
import numpy as np
from affine import Affine
from rasterio.crs import CRS
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.raster import write_cog

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail (EFBIG), as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
data = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
grid = Grid(CRS.from_epsg(32643), Affine(10, 0, 400000, 0, -10, 4000000), 2048, 2048)
try:
    write_cog(Path(sys.argv[1]), data, grid, nodata=None)
except OSError as error:  # what the commands report in one line: "Error: FILE: REASON"
    print(f"{error.filename}: {error.strerror}")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")
def test_a_cog_gdal_cannot_finish_writing_is_one_error_naming_the_file(tmp_path: Path) -> None:
    """Measured at 0.25 on a full disk: GDAL's "TIFFWriteDirectoryTagData:IO error writing tag
    data" ended the build with a traceback from a worker. Not a GlofnetError: that is what the
    jobs catch and list as an unusable input."""
    path = tmp_path / "band.tif"
    done = subprocess.run(
        [sys.executable, "-c", WRITE_UNDER_A_FILE_SIZE_LIMIT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"{path}: GDAL could not finish the COG: "), done.stdout
    assert done.stdout.rstrip().endswith("MiB free on its disk")
