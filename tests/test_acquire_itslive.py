"""``stac glofnet acquire itslive`` (and ``all``) against real servers on 127.0.0.1.

The ITS_LIVE STAC API is played by ``stac glofnet serve`` over items in the ``itslive-granules``
form (ASFHyP3/itslive-metadata ``cryoforge/generate.py``: id = the file stem, ``date_dt`` rounded
to whole days, ``percent_valid_pixels`` an integer, a ``data`` asset pointing at the NetCDF file)
made from granules of the synthetic sample, served by a range-capable HTTP server.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from stactools.cli.cli import cli

from stactools_glofnet.acquire.download import PARTIAL_SUFFIX
from stactools_glofnet.acquire.itslive import Pair, PairFilter, plan_pair, unreadable_granule
from stactools_glofnet.acquire.modalities import PROVIDERS, AcquireOptions, acquire
from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import read_json, sha256_file
from stactools_glofnet.itslive.read import read_granule
from stactools_glofnet.itslive.sample import generate
from stactools_glofnet.sample.framework import write_sample
from tests.rangeserver import RangeServer
from tests.s3server import free_ports
from tests.stacapi import stac_api, write_api_catalog

COLLECTION = "itslive-granules"
START, END = "2018-01-01", "2020-12-31"
PER_GROUP = 2  # good granules taken of each sensor group


@dataclass
class Provider:
    """The servers, the granules served and their item properties."""

    server: RangeServer
    api: str
    served: Path
    properties: dict[str, dict[str, Any]]
    sparse: str
    groups: dict[str, str]
    """Each granule's sensor group, as the sample planted it."""

    def size(self, granule: str) -> int:
        return (self.served / f"{granule}.nc").stat().st_size

    def selected(self, low: float, high: float, valid: float) -> list[str]:
        """What the filters should let through, from the items' own properties."""
        return sorted(
            g
            for g, p in self.properties.items()
            if low <= p["date_dt"] <= high and p["percent_valid_pixels"] >= valid
        )


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _item(path: Path, url: str) -> dict[str, Any]:
    """An ``itslive-granules`` item as cryoforge writes one, from the granule's own metadata."""
    granule = read_granule(path)
    start, end = sorted(granule.acquired)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/projection/v2.0.0/schema.json"],
        "id": path.stem,
        "collection": COLLECTION,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[74.3, 36.2], [74.8, 36.2], [74.8, 36.6], [74.3, 36.6], [74.3, 36.2]]],
        },
        "bbox": [74.3, 36.2, 74.8, 36.6],
        "properties": {
            "datetime": _iso(granule.centre),
            "mid_datetime": _iso(granule.centre),
            "start_datetime": _iso(start),
            "end_datetime": _iso(end),
            "date_dt": round(granule.date_dt_days, 0),
            "percent_valid_pixels": int(round(granule.valid_percentage, 0)),
            "platform": granule.image_ids[0].split("_")[0],
            "scene_1_id": granule.image_ids[0],
            "scene_2_id": granule.image_ids[1],
            "proj:code": f"EPSG:{granule.crs.to_epsg()}",
            "version": "002",
        },
        "assets": {
            "data": {"href": f"{url}{path.name}", "type": "application/netcdf", "roles": ["data"]},
            "thumbnail": {"href": f"{url}{path.stem}_thumb.png", "type": "image/png", "roles": ["thumbnail"]},
        },
    }


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory, content: CatalogContent) -> Iterator[Provider]:
    root = tmp_path_factory.mktemp("itslive-provider")
    write_sample(root / "sample", content, {"itslive": generate})
    truth = read_json(root / "sample" / "truth.json")["itslive"]["granules"]
    files = [g for g in truth if g["form"] == "granule"]
    chosen = []
    for group in ("landsat", "sentinel-1", "sentinel-2"):
        chosen += [g["granule"] for g in files if g["group"] == group and g["flaw"] is None][:PER_GROUP]
    sparse = next(g["granule"] for g in files if g["flaw"] == "sparse")
    served = root / "served"
    served.mkdir()
    for relative in [*chosen, sparse]:
        shutil.copy(root / "sample" / relative, served)
    (port,) = free_ports(1)
    server = RangeServer(served, port)
    documents = [_item(path, server.url) for path in sorted(served.glob("*.nc"))]
    write_api_catalog(root / "itslive-stac", COLLECTION, documents)
    with ExitStack() as stack:
        server.start()
        stack.callback(server.stop)
        api = stack.enter_context(stac_api(str(root / "itslive-stac")))
        yield Provider(
            server,
            api,
            served,
            {d["id"]: d["properties"] for d in documents},
            Path(sparse).stem,
            {Path(g["granule"]).stem: g["group"] for g in files},
        )


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, ["glofnet", *args])
    print(result.output)
    return result


def acquire_cli(provider: Provider, source: Path, *extra: str) -> Result:
    return run(
        "acquire", "itslive", str(source), "--api", provider.api, "--start", START, "--end", END, *extra
    )


def _files(source: Path) -> list[str]:
    return sorted(p.name for p in (source / "itslive").iterdir())


def test_filters_select_by_date_separation_and_valid_percentage(provider: Provider, tmp_path: Path) -> None:
    separations = sorted({p["date_dt"] for p in provider.properties.values()})
    low, high = separations[1], separations[-2]  # leaves out the shortest and the longest
    expected = provider.selected(low, high, 50)
    assert provider.sparse not in expected and 0 < len(expected) < len(provider.properties) - 1
    provider.server.reset()
    source = tmp_path / "source"
    result = acquire_cli(
        provider, source, "--min-days", str(low), "--max-days", str(high), "--min-valid", "50"
    )
    assert result.exit_code == 0
    assert _files(source) == sorted(["acquire-manifest.json", *(f"{g}.nc" for g in expected)])
    # Whole files, each once, and nothing of a pair the filters left out.
    assert dict(provider.server.sent) == {f"{g}.nc": provider.size(g) for g in expected}
    for granule in expected:
        assert sha256_file(source / "itslive" / f"{granule}.nc") == sha256_file(
            provider.served / f"{granule}.nc"
        )
    left = len(provider.properties) - len(expected)
    assert f"{len(expected)} acquired ({len(expected)} files" in result.output
    assert f"{left} filtered out" in result.output


def test_by_default_the_builds_separations_apply_and_p000_like_pairs_are_kept_out(
    provider: Provider, tmp_path: Path, content: CatalogContent
) -> None:
    limits = {str(group): bounds for group, bounds in content.processing.itslive.date_dt_days.items()}
    expected = sorted(
        g
        for g, p in provider.properties.items()
        if limits[provider.groups[g]][0] <= p["date_dt"] <= limits[provider.groups[g]][1]
        and p["percent_valid_pixels"] >= 1
    )
    assert provider.sparse in expected  # P002: more than the default --min-valid 1
    source = tmp_path / "source"
    assert acquire_cli(provider, source, "--min-valid", "3").exit_code == 0
    assert _files(source) == sorted(
        ["acquire-manifest.json", *(f"{g}.nc" for g in expected if g != provider.sparse)]
    )


@pytest.fixture(scope="module")
def acquired(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("itslive-acquired") / "source"
    assert acquire_cli(provider, source, "--min-valid", "50").exit_code == 0
    return source


def test_the_collection_built_from_the_acquired_source_equals_the_one_from_disk(
    provider: Provider, acquired: Path, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    (disk / "itslive").mkdir(parents=True)
    for path in (acquired / "itslive").glob("*.nc"):
        shutil.copy(provider.served / path.name, disk / "itslive" / path.name)
    data = {}
    for name, source in (("disk", disk), ("acquired", acquired)):
        dest = tmp_path / "built" / name
        assert run("create-collection", "itslive", str(source), str(dest), "--workers", "0").exit_code == 0
        data[name] = {
            p.relative_to(dest).as_posix(): p.read_bytes()
            for p in sorted(dest.rglob("*"))
            if p.is_file() and (".zarr/" in p.as_posix() or p.suffix in (".tif", ".png", ".parquet"))
        }
    assert data["acquired"].keys() == data["disk"].keys()
    assert len([p for p in data["disk"] if p.endswith(".tif")]) >= 4
    assert [path for path in data["disk"] if data["disk"][path] != data["acquired"][path]] == []


def test_a_rerun_fetches_nothing_and_dry_run_writes_nothing(
    provider: Provider, acquired: Path, tmp_path: Path
) -> None:
    provider.server.reset()
    again = acquire_cli(provider, acquired, "--min-valid", "50", "--since-last")
    assert again.exit_code == 0 and dict(provider.server.sent) == {}
    dry = acquire_cli(provider, tmp_path / "fresh", "--dry-run", "--min-valid", "50")
    assert dry.exit_code == 0 and not (tmp_path / "fresh").exists()
    planned = [line.split()[2] for line in dry.output.splitlines() if line.startswith("would fetch")]
    assert sorted(planned) == sorted(p.stem for p in (acquired / "itslive").glob("*.nc"))
    assert dict(provider.server.sent) == {}


def test_a_server_stopped_mid_download_then_restarted_resumes_without_corruption(
    provider: Provider, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    server = provider.server
    first = min(provider.properties, key=lambda g: provider.properties[g]["datetime"])
    cut = provider.size(first) // 3
    server.reset()
    server.cut_next_body(cut)
    try:
        started = time.monotonic()
        failed = acquire_cli(provider, source, "--retries", "2")
        assert failed.exit_code == 1 and time.monotonic() - started < 20
        (line,) = failed.output.strip().splitlines()
        assert line == f"Error: {server.url}{first}.nc: unreadable after 2 attempts ({line.split('(', 1)[1]}"
    finally:
        server.start()
    root = source / "itslive"
    assert not (root / f"{first}.nc").exists()  # never under its final name while partial
    partial = root / f".{first}.nc{PARTIAL_SUFFIX}"
    assert partial.stat().st_size == cut
    server.reset()
    assert acquire_cli(provider, source).exit_code == 0
    # The rerun asked only for the rest of the cut file.
    assert server.sent[f"{first}.nc"] == provider.size(first) - cut
    assert not list(root.glob(f"*{PARTIAL_SUFFIX}"))
    manifest = read_json(root / "acquire-manifest.json")
    for name, record in manifest["files"].items():
        assert sha256_file(root / name) == sha256_file(provider.served / name) == record["sha256"]
    read_granule(root / f"{first}.nc")


def test_a_file_changed_on_the_server_during_an_outage_comes_back_whole(
    provider: Provider, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    server = provider.server
    ordered = sorted(provider.properties, key=lambda g: provider.properties[g]["datetime"])
    first, other = ordered[0], ordered[1]
    original = (provider.served / f"{first}.nc").read_bytes()
    server.reset()
    server.cut_next_body(len(original) // 2)
    try:
        assert acquire_cli(provider, source, "--retries", "1").exit_code == 1
        # Reprocessed while we were away: other bytes under the same name (If-Range no longer matches).
        (provider.served / f"{first}.nc").write_bytes((provider.served / f"{other}.nc").read_bytes())
        server.start()
        server.reset()
        assert acquire_cli(provider, source).exit_code == 0
        changed = provider.size(first)
        assert server.sent[f"{first}.nc"] == changed  # whole, not spliced onto the old half
        assert sha256_file(source / "itslive" / f"{first}.nc") == sha256_file(provider.served / f"{first}.nc")
        assert not list((source / "itslive").glob(".*"))
    finally:
        (provider.served / f"{first}.nc").write_bytes(original)


def test_all_runs_every_modality_and_reports_the_failures_together(
    provider: Provider, tmp_path: Path, content: CatalogContent, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = free_ports(2)
    monkeypatch.setitem(PROVIDERS, "sentinel2", (f"http://127.0.0.1:{ports[0]}", "sentinel-2-l2a"))
    monkeypatch.setitem(PROVIDERS, "modis", (f"http://127.0.0.1:{ports[1]}", "modis-11A1-061"))
    monkeypatch.setitem(PROVIDERS, "itslive", (provider.api, COLLECTION))
    seen: list[str] = []
    options = AcquireOptions(start=START, end=END, min_valid_percent=50, attempts=1)
    with pytest.raises(GlofnetError) as raised:
        acquire("all", tmp_path / "source", content, options, on_report=lambda r: seen.append(r.summary()))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"acquire all: sentinel2: http://127.0.0.1:{ports[0]}: no STAC API here")
    assert f"; modis: http://127.0.0.1:{ports[1]}: no STAC API here" in message
    (summary,) = seen
    assert summary.startswith("itslive:") and "acquired" in summary
    assert sorted(p.stem for p in (tmp_path / "source" / "itslive").glob("*.nc")) == provider.selected(
        0, 1e9, 50
    )


def _cryoforge_item(name: str, *, date_dt: float, valid: int) -> dict[str, Any]:
    stem = name.removesuffix(".nc")
    return {
        "id": stem,
        "properties": {"datetime": "1984-12-31T01:13:56Z", "date_dt": date_dt, "percent_valid_pixels": valid},
        "assets": {"data": {"href": f"https://its-live-data.s3.amazonaws.com/velocity_image_pair/{name}"}},
    }


def test_real_granules_are_planned_and_checked_as_the_build_reads_them(
    shared_dir: Path, content: CatalogContent
) -> None:
    v2, v1 = (
        "LT05_L1GS_219121_19841206_20200918_02_T2_X_LT05_L1GS_226120_19850124_20200918_02_T2_G0120V02_P000.nc",
        "LE07_L1GT_001113_20121118_20161127_01_T2_X_LE07_L1GT_232113_20121104_20161127_01_T2_G0240V01_P059.nc",
    )
    api = "https://stac.itslive.cloud"
    # Real item values: date_dt 49.03 -> 49, roi_valid_percentage 0.0 -> 0 (PROVENANCE item 1).
    item = _cryoforge_item(v2, date_dt=49.0, valid=0)
    assert plan_pair(item, api, COLLECTION, PairFilter(), content) == (
        f"{item['id']}: 0 % valid pixels, below --min-valid 1",
        True,
    )
    planned = plan_pair(item, api, COLLECTION, PairFilter(min_valid_percent=0), content)
    assert isinstance(planned, Pair) and planned.filename == v2
    assert planned.item_href == f"{api}/collections/{COLLECTION}/items/{item['id']}"
    assert plan_pair(item, api, COLLECTION, PairFilter(min_valid_percent=0, max_days=48), content) == (
        f"{item['id']}: date separation 49 days outside 8-48",
        True,
    )
    legacy = plan_pair(_cryoforge_item(v1, date_dt=14.0, valid=59), api, COLLECTION, PairFilter(), content)
    assert isinstance(legacy, tuple) and not legacy[1] and "ITS_LIVE version 1 granule" in legacy[0]
    # The check a download passes before it takes its final name: the real v2 file opens, v1 not.
    assert unreadable_granule(shared_dir / "real-data" / "itslive" / v2) is None
    assert "version 1 granules are not supported" in str(
        unreadable_granule(shared_dir / "real-data" / "itslive" / v1)
    )
