"""The MOD11A1 HDF4 reader on the real LP DAAC granule, and its one-line errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.modis.qc import accepted
from stactools_glofnet.modis.read import read_hdf4

REAL = "MOD11A1.A2021227.h11v05.061.2021228105320.hdf"


def test_real_granule_reads_with_tile_georeferencing_and_valid_lst(
    shared_dir: Path, content: CatalogContent
) -> None:
    tile = read_hdf4(shared_dir / "real-data" / "modis" / REAL)
    assert tile.tile == "h11v05" and tile.day == dt.date(2021, 8, 15)
    spec = content.processing.grids["modis"]
    tile_metres = spec.resolution * 1200
    assert tile.grid.transform.c == pytest.approx(spec.origin[0] + 11 * tile_metres, abs=0.01)
    assert tile.grid.transform.f == pytest.approx(spec.origin[1] - 5 * tile_metres, abs=0.01)
    assert tile.grid.transform.a == pytest.approx(spec.resolution, abs=1e-6)
    assert "sinu" in tile.grid.crs.to_proj4()
    lst = tile.bands["LST_Day_1km"]
    assert lst.dtype == np.uint16 and tile.bands["QC_Day"].dtype == np.uint8
    kelvin = lst[lst > 0] * 0.02
    assert np.percentile(kelvin, 1) > 280 and np.percentile(kelvin, 99) < 315
    kept = accepted(tile.bands["QC_Day"], lst, content.processing.modis)
    assert 0 < kept.mean() < 1


def test_truncated_granule_is_one_line(shared_dir: Path, tmp_path: Path) -> None:
    data = (shared_dir / "real-data" / "modis" / REAL).read_bytes()
    broken = tmp_path / REAL
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(GlofnetError) as caught:
        read_hdf4(broken)
    assert str(caught.value).startswith(str(broken)) and "\n" not in str(caught.value)


def test_another_product_is_refused(tmp_path: Path) -> None:
    from pyhdf.SD import SD, SDC

    path = tmp_path / "MOD11A1.A2021227.h24v05.061.2021228105320.hdf"
    sd = SD(str(path), SDC.WRITE | SDC.CREATE)
    sd.attr("StructMetadata.0").set(
        SDC.CHAR,
        'GridName="MOD_Grid_Snow_500m"\nXDim=2400\nYDim=2400\nUpperLeftPointMtrs=(0,0)\n'
        "LowerRightMtrs=(1,1)\nProjection=GCTP_SNSOID\n",
    )
    sd.end()
    with pytest.raises(GlofnetError, match="another product"):
        read_hdf4(path)
