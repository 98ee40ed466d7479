"""The sample framework: same seed → identical bytes, independent streams, planted truth."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from stactools.cli.cli import cli

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import sha256_file
from stactools_glofnet.core.output import MARKER
from stactools_glofnet.itslive import sample as itslive_sample
from stactools_glofnet.itslive.names import SensorGroup
from stactools_glofnet.itslive.sample_forms import CUBE_NAME
from stactools_glofnet.modis import sample as modis_sample
from stactools_glofnet.sample import framework
from stactools_glofnet.sample.framework import SampleContext
from stactools_glofnet.sample.timeline import Timeline
from stactools_glofnet.sentinel2 import sample as sentinel2_sample
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


# ------------------------------------------------------------------ the glofnet size, --fraction
def _glofnet(content: CatalogContent, fraction: float = 1.0) -> SampleContext:
    """A context of the glofnet size for the schedules (nothing is written)."""
    size = framework.SIZES["glofnet"].last(fraction)
    timeline = framework.make_timeline(content, framework.SIZES["glofnet"], 5)
    return SampleContext(Path("unused"), size, 5, content, timeline)


def _inputs(ctx: SampleContext) -> dict[str, list[dt.date]]:
    """The first date of every input of each modality (ITS_LIVE by family)."""
    pairs = itslive_sample.schedule(ctx)
    inputs = {"sentinel2": [day for day, _ in sentinel2_sample.scene_schedule(ctx)]}
    for group in itslive_sample.ARCHIVE_FAMILIES:
        inputs[f"itslive.{group}"] = [p["start"] for p in pairs if p["group"] == group]
    inputs["modis"] = modis_sample._days(ctx)
    return inputs


def test_glofnet_sentinel2_has_the_archive_cadence(content: CatalogContent) -> None:
    schedule = sentinel2_sample.scene_schedule(_glofnet(content))
    days = [day for day, _ in schedule]
    assert days[0] == dt.date(2015, 7, 4) and dt.date(2024, 12, 26) < days[-1] <= dt.date(2024, 12, 31)
    gaps = {
        (later >= dt.date(2017, 3, 28), (later - earlier).days) for earlier, later in itertools.pairwise(days)
    }
    assert gaps == {(False, 10), (True, 5)}
    assert len(days) == 631
    satellites = [sentinel2_sample.satellite_on(day) for day in days]
    before = [s for day, s in zip(days, satellites, strict=True) if day < dt.date(2017, 3, 28)]
    after = [s for day, s in zip(days, satellites, strict=True) if day >= dt.date(2017, 3, 28)]
    assert set(before) == {"S2A"}  # Sentinel-2B launched 2017-03-07
    assert all(a != b for a, b in itertools.pairwise(after))
    # The full size's cloud draw and scene forms.
    assert {cloud for _, cloud in schedule} == {0.0, 0.05, 0.2, 0.5, 0.95}


def test_glofnet_itslive_pairs_as_its_live_v2_forms_them(content: CatalogContent) -> None:
    pairs = itslive_sample.schedule(_glofnet(content))
    expected: dict[SensorGroup, tuple[int, int]] = {
        "landsat": (2700, 3000),
        "sentinel-1": (3000, 3300),
        "sentinel-2": (6900, 7300),
    }
    accepted = content.processing.itslive.date_dt_days
    for group, (low, high) in expected.items():
        family = itslive_sample.ARCHIVE_FAMILIES[group]
        mine = [p for p in pairs if p["group"] == group]
        assert low <= len(mine) <= high, (group, len(mine))
        for pair in mine:
            if pair["flaw"] is None:
                assert pair["dt"] <= family.max_separation_days
                assert accepted[group][0] <= pair["dt"] <= accepted[group][1]
        # Every image is paired with every later image of its family up to the maximum separation.
        images = itslive_sample.family_images(family, dt.date(2024, 12, 31))
        days = [day for day, _ in images]
        later = {d: sum(1 for e in days if 0 < (e - d).days <= family.max_separation_days) for d in days}
        assert collections.Counter(p["start"] for p in mine) == +collections.Counter(later)
        # Each image's satellite follows from its date.
        satellite = dict(images)
        for pair in mine:
            assert pair["satellites"][0] == satellite[pair["start"]]
            if pair["flaw"] is None:
                assert pair["satellites"][1] == satellite[pair["start"] + dt.timedelta(days=pair["dt"])]
    assert 10_000 <= len(pairs) <= 20_000
    assert sorted(p["flaw"] for p in pairs if p["flaw"]) == sorted(itslive_sample.FLAWS)
    first = {s: min(day for day, s2 in itslive_images() if s2 == s) for s in ("LC09", "S1B", "S2B")}
    # Landsat 9 from 2021-11, Sentinel-1B from 2016-09-26, Sentinel-2B on 2A's lattice from 2017-03-28.
    assert dt.date(2021, 11, 1) <= first["LC09"] < dt.date(2021, 11, 9)
    assert dt.date(2016, 9, 26) <= first["S1B"] < dt.date(2016, 10, 2)
    assert first["S2B"] == dt.date(2017, 3, 30)
    assert max(day for day, s in itslive_images() if s == "S1B") <= dt.date(2021, 12, 23)


def itslive_images() -> list[tuple[dt.date, str]]:
    """Every image of every ITS_LIVE family in the glofnet size."""
    end = dt.date(2024, 12, 31)
    return [
        image
        for f in itslive_sample.ARCHIVE_FAMILIES.values()
        for image in itslive_sample.family_images(f, end)
    ]


def test_glofnet_modis_is_daily_over_the_whole_span(content: CatalogContent) -> None:
    days = modis_sample._days(_glofnet(content))
    assert len(days) == (dt.date(2024, 12, 31) - dt.date(2000, 2, 24)).days + 1
    assert days[0] == dt.date(2000, 2, 24) and days[-1] == dt.date(2024, 12, 31)


def test_a_fraction_keeps_that_share_of_every_modality_at_the_end(content: CatalogContent) -> None:
    whole, quarter = _inputs(_glofnet(content)), _inputs(_glofnet(content, 0.25))
    span = framework.SIZES["glofnet"]
    last_quarter = span.end - (span.end - span.start) / 4
    for modality, days in quarter.items():
        assert len(days) / len(whole[modality]) == pytest.approx(0.25, abs=0.01), modality
        assert min(days) >= last_quarter, modality
        # Cadences unchanged: the part is the end of the whole.
        assert set(days) <= set(whole[modality]), modality
        assert days == [d for d in whole[modality] if d >= min(days)], modality


def test_fraction_one_writes_the_same_bytes_and_the_manifest_records_it(
    tmp_path: Path, content: CatalogContent
) -> None:
    def spans(ctx: SampleContext) -> dict[str, Any]:
        ctx.path("span.txt").write_text(f"{ctx.size.start} {ctx.size.end} {ctx.size.fraction}")
        return {}

    framework.write_sample(tmp_path / "plain", content, {"span": spans}, size="glofnet")
    framework.write_sample(tmp_path / "one", content, {"span": spans}, size="glofnet", fraction=1.0)
    assert _tree(tmp_path / "plain") == _tree(tmp_path / "one")
    manifest = framework.write_sample(
        tmp_path / "part", content, {"span": spans}, size="glofnet", fraction=0.5
    )
    truth = json.loads((tmp_path / "part" / "truth.json").read_text())
    assert (manifest["size"], manifest["fraction"], truth["size"], truth["fraction"]) == ("glofnet", 0.5) * 2
    assert manifest["span"] == ["2012-07-29", "2024-12-31"]
    # The time line is the whole span's, so a part plants the same signal as the whole.
    assert truth["timeline"] == json.loads((tmp_path / "one" / "truth.json").read_text())["timeline"]
    small = framework.write_sample(tmp_path / "small", content, {}, size="small")
    assert "fraction" not in small


@pytest.mark.parametrize(
    "args",
    [
        ["--size", "glofnet", "--fraction", "0"],
        ["--size", "glofnet", "--fraction", "1.5"],
        ["--size", "small", "--fraction", "0.5"],
    ],
)
def test_a_bad_fraction_is_one_line(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["glofnet", "sample", str(tmp_path / "s"), *args])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert "--fraction" in result.output and not (tmp_path / "s").exists()


def test_a_tiny_glofnet_fraction_holds_its_schedules(
    tmp_path: Path, content: CatalogContent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(itslive_sample, "CUBE_BLOCK_LAYERS", 3)  # the cube in several blocks
    dest = tmp_path / "tiny"
    result = CliRunner().invoke(
        cli, ["glofnet", "sample", str(dest), "--size", "glofnet", "--fraction", "0.002"]
    )
    assert result.exit_code == 0, result.output
    ctx = _glofnet(content, 0.002)
    truth = json.loads((dest / "truth.json").read_text())
    scenes = sentinel2_sample.scene_schedule(ctx)
    assert (
        len(list((dest / "sentinel2").glob("*/*.json"))) == len(scenes) == len(truth["sentinel2"]["scenes"])
    )
    assert [s["id"][:3] for s in truth["sentinel2"]["scenes"]] == [
        sentinel2_sample.satellite_on(day) for day, _ in scenes
    ]
    pairs = itslive_sample.schedule(ctx)
    granules = truth["itslive"]["granules"]
    assert [(g["group"], g["start"]) for g in granules] == [
        (p["group"], p["start"].isoformat()) for p in pairs
    ]
    files = list((dest / "itslive").glob("*.nc"))
    cube = xr.open_zarr(dest / "itslive" / CUBE_NAME)
    assert len(files) + cube.sizes["mid_date"] == len(pairs) == len(granules)
    assert cube["v"].encoding["chunks"][0] == 3 and cube.sizes["mid_date"] > 3
    in_cube = [Path(g["granule"]).stem for g in granules if g["form"] == "datacube"]
    assert [Path(str(url)).stem for url in cube["granule_url"].values] == in_cube
    days = modis_sample._days(ctx)
    assert [d["date"] for d in truth["modis"]["days"]] == [d.isoformat() for d in days]
    assert len(days) == 19 and min(days) == ctx.size.start
    manifest = json.loads((dest / "sample.json").read_text())
    assert (manifest["size"], manifest["fraction"], truth["fraction"]) == ("glofnet", 0.002, 0.002)
