"""catalog/ loads into typed models; a broken file gives one line naming the file and the key."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from stactools.cli.cli import cli

from stactools_glofnet.core.config import CatalogContent, load_content
from stactools_glofnet.core.errors import GlofnetError
from tests.conftest import REPO


def test_every_dated_event_of_the_domain_is_listed(content: CatalogContent) -> None:
    events = {e.id: e for e in content.events.event}
    glof_days = {e.start for e in events.values() if e.kind == "glof"}
    for day in ["2019-06-22", "2020-05-29", "2021-05-15", "2022-05-06", "2022-05-10", "2022-05-25"]:
        assert dt.date.fromisoformat(day) in glof_days
    assert {e.kind for e in events.values()} == {"glof", "surge", "dam-formation"}
    assert all(e.sources for e in events.values())


def test_drainages_carry_the_database_discharges(content: CatalogContent) -> None:
    drained = {e.drainage_date.isoformat(): e for e in content.events.drainages}
    assert list(drained) == ["2019-06-23", "2020-05-29", "2021-05-15", "2022-05-07"]
    assert drained["2019-06-23"].peak_discharge_m3_per_s == 142
    assert drained["2020-05-29"].lake_area_km2 == 0.42


def test_split_blocks_each_hold_a_drainage_and_respect_the_buffer(content: CatalogContent) -> None:
    splits = content.splits
    held = {splits.split_of(e.drainage_date) for e in content.events.drainages}
    assert held == {"train", "validate", "test"}
    for before, after in zip(splits.block, splits.block[1:], strict=False):
        assert (after.start - before.end).days - 1 >= splits.buffer_days
        assert splits.split_of(before.end + dt.timedelta(days=1)) is None
        # An interval reaching across a boundary belongs to no split.
        assert splits.split_of_interval(before.end - dt.timedelta(days=5), after.start) is None


def test_lake_polygon_is_inside_the_aoi(content: CatalogContent) -> None:
    west, south, east, north = content.geometry.aoi.bbox
    lw, ls, le, ln = content.geometry.lake.bbox
    assert west < lw < le < east and south < ls < ln < north


def _copy_content(tmp_path: Path) -> Path:
    directory = tmp_path / "catalog"
    shutil.copytree(REPO / "catalog", directory)
    return directory


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("splits.toml", "buffer_days = 60", "buffer_days = ", "invalid TOML"),
        ("events.toml", "start = 2021-05-15", 'start = "mid May"', "key event.8.start"),
        ("events.toml", 'kind = "glof"', 'kind = "avalanche"', "key event.5.kind"),
        (
            "dataset.toml",
            'spdx = "CC-BY-4.0"',
            'spdx = "CC-BY-4.0"\nspdx_version = 4',
            "key license.spdx_version",
        ),
        ("processing.toml", "signal_classes = [6, 11]", "signal_classes = [6, 9]", "key sentinel2"),
        ("splits.toml", "start = 2020-12-01", "start = 2020-10-15", "less than buffer_days"),
        ("splits.toml", "model_window_days = 30", "model_window_days = 60", "must exceed model_window_days"),
        # The validate block would start inside the May 2021 outburst's label window.
        ("splits.toml", "start = 2020-12-01", "start = 2021-05-20", "shisper-glof-2021"),
        (
            "processing.toml",
            'lst_night = "nearest"',
            'lst_night = "average"',
            "key harmonized.resampling.lst_night",
        ),
        (
            "processing.toml",
            "itslive = 45, modis = 8",
            "itslive = 61, modis = 8",
            "harmonized.max_gap_days.itslive",
        ),
        ("processing.toml", "itslive = 45, modis = 8", "itslive = 45", "max_gap_days lacks modis"),
        (
            "geometry.toml",
            "bbox = [74.45, 36.27, 74.72, 36.50]",
            "bbox = [74.72, 36.27, 74.45, 36.50]",
            "key aoi",
        ),
    ],
)
def test_bad_content_names_file_and_key(tmp_path: Path, file: str, old: str, new: str, expected: str) -> None:
    directory = _copy_content(tmp_path)
    _replace(directory / file, old, new)
    with pytest.raises(GlofnetError) as caught:
        load_content(directory)
    message = str(caught.value)
    assert message.startswith(str(directory / file) + ": ")
    assert expected in message
    assert "\n" not in message


def test_missing_content_file(tmp_path: Path) -> None:
    directory = _copy_content(tmp_path)
    (directory / "events.toml").unlink()
    with pytest.raises(GlofnetError, match=r"events\.toml: missing catalog content file"):
        load_content(directory)


def test_cli_reports_bad_content_in_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _copy_content(tmp_path)
    _replace(directory / "events.toml", "end = 2019-06-23", "end = 2019-06-01")
    monkeypatch.setenv("GLOFNET_CONTENT_DIR", str(directory))
    dest = tmp_path / "out"
    result = CliRunner().invoke(cli, ["glofnet", "create-catalog", str(dest)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert str(directory / "events.toml") in lines[0] and "key event.5" in lines[0]
    assert not dest.exists()
