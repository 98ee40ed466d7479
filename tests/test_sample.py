"""The sample framework: same seed → identical bytes, independent streams, planted truth."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from stactools.cli.cli import cli

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import sha256_file
from stactools_glofnet.core.output import MARKER
from stactools_glofnet.sample import framework
from stactools_glofnet.sample.framework import SampleContext
from stactools_glofnet.sample.timeline import Timeline
from stactools_glofnet.wings import write_sample


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _noise_generator(stream: str, filename: str) -> framework.Generator:
    def generate(ctx: SampleContext) -> dict[str, Any]:
        values = ctx.rng(stream).normal(size=64)
        ctx.path(filename).write_bytes(values.tobytes())
        return {"mean": float(values.mean())}

    return generate


def test_same_seed_gives_identical_bytes_via_the_cli(tmp_path: Path, small_sample: Path) -> None:
    seed = str(json.loads((small_sample / "truth.json").read_text())["seed"])
    result = CliRunner().invoke(cli, ["glofnet", "sample", str(tmp_path / "again"), "--seed", seed])
    assert result.exit_code == 0, result.output
    first, second = _tree(small_sample), _tree(tmp_path / "again")
    assert first == second and "sample.json" in first and "truth.json" in first


def test_another_seed_plants_another_truth(tmp_path: Path, content: CatalogContent) -> None:
    framework.write_sample(tmp_path / "a", content, {}, seed=1)  # the time line alone: no generator
    framework.write_sample(tmp_path / "b", content, {}, seed=2)
    truth_a = json.loads((tmp_path / "a" / "truth.json").read_text())
    truth_b = json.loads((tmp_path / "b" / "truth.json").read_text())
    assert truth_a["timeline"]["melt_onset_doy"] != truth_b["timeline"]["melt_onset_doy"]


def test_streams_do_not_depend_on_other_generators(
    tmp_path: Path, content: CatalogContent, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha_generator = _noise_generator("alpha", "alpha/values.bin")
    beta_generator = _noise_generator("beta", "beta/values.bin")
    framework.write_sample(tmp_path / "one", content, {"alpha": alpha_generator})
    framework.write_sample(tmp_path / "two", content, {"beta": beta_generator, "alpha": alpha_generator})
    alpha = "alpha/values.bin"
    assert (tmp_path / "one" / alpha).read_bytes() == (tmp_path / "two" / alpha).read_bytes()
    assert (tmp_path / "one" / alpha).read_bytes() != (tmp_path / "two" / "beta/values.bin").read_bytes()
    truth = json.loads((tmp_path / "two" / "truth.json").read_text())
    assert set(truth) >= {"alpha", "beta", "timeline"}


def test_manifest_lists_every_file_with_its_checksum(small_sample: Path) -> None:
    manifest = json.loads((small_sample / "sample.json").read_text())
    listed = {entry["path"]: entry for entry in manifest["files"]}
    on_disk = {p.relative_to(small_sample).as_posix() for p in small_sample.rglob("*") if p.is_file()}
    assert on_disk - set(listed) == {"sample.json", MARKER}
    for path, entry in listed.items():
        assert entry["sha256"] == sha256_file(small_sample / path)
        assert entry["size"] == (small_sample / path).stat().st_size
    assert set(manifest["grids"]) == {"sentinel2_10m", "sentinel2_20m", "itslive", "modis_utm"}
    assert [t["tile"] for t in manifest["tiles"]["modis"]] == ["h23v05", "h24v05"]
    west, south, east, north = manifest["extent_bbox"]
    lon, lat = 74.572267, 36.35594
    assert west < lon < east and south < lat < north


def test_small_sample_covers_the_lake_full_covers_the_aoi(tmp_path: Path, content: CatalogContent) -> None:
    manifest = framework.write_sample(tmp_path / "full", content, {}, size="full")
    assert manifest["span"] == ["2000-02-24", "2024-12-31"]
    assert manifest["extent_bbox"] == list(content.geometry.aoi.bbox)
    small = framework.SIZES["small"]
    assert small.start < content.events.drainages[0].drainage_date
    assert content.events.drainages[-1].drainage_date < small.end


def test_refuses_to_overwrite_a_directory_that_is_not_a_sample(
    tmp_path: Path, content: CatalogContent
) -> None:
    dest = tmp_path / "precious"
    dest.mkdir()
    (dest / "thesis.tex").write_text("keep me")
    with pytest.raises(GlofnetError, match="this tool did not write"):
        write_sample(dest, content)
    assert (dest / "thesis.tex").read_text() == "keep me"


def _timeline(content: CatalogContent, seed: int = 3) -> Timeline:
    return framework.make_timeline(content, framework.SIZES["full"], seed)


def test_lake_peaks_at_each_event_area_and_drains_on_its_date(content: CatalogContent) -> None:
    timeline = _timeline(content)
    for drainage, event in zip(timeline.drainages, content.events.drainages, strict=True):
        day = np.datetime64(event.drainage_date, "D")
        before, on = timeline.lake_area_km2(np.array([day - 1, day]))
        assert before == pytest.approx(event.lake_area_km2 or timeline.p.default_peak_lake_area_km2)
        assert on == pytest.approx(drainage.residual_area_km2)
        assert on < 0.1 * before
    dam = np.datetime64(dt.date(2018, 11, 1), "D")
    assert timeline.lake_area_km2(np.array([dam - 30]))[0] == 0.0
    # The lake fills mostly in the melt season: more growth from April to June than from Nov to Feb.
    spring = timeline.lake_area_km2(np.array(["2021-06-01", "2021-09-01"], dtype="datetime64[D]"))
    winter = timeline.lake_area_km2(np.array(["2021-11-01", "2022-02-01"], dtype="datetime64[D]"))
    assert spring[1] - spring[0] > 2 * (winter[1] - winter[0]) > 0


def test_surge_peaks_and_quiescent_speed(content: CatalogContent) -> None:
    timeline = _timeline(content)
    days = timeline.days()
    m_per_day = timeline.glacier_speed_m_per_yr(days) / 365.25
    year = days.astype("datetime64[Y]").astype(int) + 1970
    assert 17.0 < m_per_day[year == 2018].max() < 21.0
    assert 17.0 < m_per_day[year == 2019].max() < 21.0
    assert m_per_day[(year >= 2005) & (year <= 2015)].max() < 1.0


def test_lst_carries_the_planted_warming_trend(content: CatalogContent) -> None:
    timeline = _timeline(content)
    days = timeline.days()
    lst = timeline.lst_kelvin(days)
    years = days.astype("datetime64[Y]").astype(int) + 1970
    full_years = np.arange(2001, 2025)
    annual = np.array([lst[years == y].mean() for y in full_years])
    slope = np.polyfit(full_years, annual, 1)[0]
    assert slope * 10 == pytest.approx(0.8, abs=0.02)
