"""SOURCE in object storage: ``s3://BUCKET/PREFIX`` on a real SeaweedFS on 127.0.0.1.

A few Sentinel-2 scenes of the synthetic sample are uploaded to a bucket prefix; the collection
built from ``s3://`` must be the one built from the same files on disk, a second build must find
DEST current (the mirror left the files alone), and an object changed in the bucket must reach
the build. ``acquire`` into ``s3://`` is tested in tests/test_acquire_s3.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner, Result
from stactools.cli.cli import cli

from stactools_glofnet.core.config import load_content
from stactools_glofnet.core.files import read_json
from stactools_glofnet.mirror.location import mirror_location
from stactools_glofnet.publish import parse_target
from stactools_glofnet.sample.framework import write_sample
from stactools_glofnet.sentinel2.sample import generate
from tests.processes import seconds_to_start
from tests.s3server import SeaweedFS, free_ports
from tests.s3server import s3_server as s3_server
from tests.stacapi import stac_command

BUCKET = "glofnet-source"
SCENES = 3


def aws_env(server: SeaweedFS, **extra: str) -> dict[str, str | None]:
    """The standard AWS variables with the test server's credentials, nothing ambient."""
    return {
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PROFILE": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_ENDPOINT_URL": None,
        "AWS_ENDPOINT_URL_S3": None,
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


def run(server: SeaweedFS, *args: str, **env: str) -> Result:
    result = CliRunner(env=aws_env(server, **env)).invoke(cli, ["glofnet", *args])
    print(result.output)
    return result


def upload_tree(server: SeaweedFS, root: Path, prefix: str) -> None:
    """Put every file under ``root`` at ``prefix/<relative path>`` (as another tool would)."""
    client = server.client()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            client.put_object(
                Bucket=BUCKET, Key=f"{prefix}/{path.relative_to(root).as_posix()}", Body=path.read_bytes()
            )


def data_files(dest: Path) -> dict[str, bytes]:
    return {
        p.relative_to(dest).as_posix(): p.read_bytes()
        for p in sorted(dest.rglob("*"))
        if p.is_file() and p.suffix in (".tif", ".png", ".parquet")
    }


@dataclass
class Source:
    """The same scenes on disk and under ``s3://BUCKET/prefix``."""

    disk: Path
    url: str
    scenes: list[str]


@pytest.fixture(scope="module")
def source(s3_server: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    root = tmp_path_factory.mktemp("mirror")
    sample = root / "sample"
    write_sample(sample, load_content(), {"sentinel2": generate})
    truth = read_json(sample / "truth.json")["sentinel2"]["scenes"]
    clear = [s["id"] for s in truth if s["target_cloud_fraction"] == 0 and not s["mis_flagged"]]
    scenes = sorted(clear[:: max(1, len(clear) // SCENES)][:SCENES])
    disk = root / "disk"
    for scene in scenes:
        shutil.copytree(sample / "sentinel2" / scene, disk / "sentinel2" / scene)
    server = s3_server
    server.client().create_bucket(Bucket=BUCKET)
    upload_tree(server, disk, "inputs")
    yield Source(disk, f"s3://{BUCKET}/inputs", scenes)


@pytest.fixture(scope="module")
def from_disk(source: Source, s3_server: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("disk-build") / "sentinel2"
    assert run(s3_server, "create-collection", "sentinel2", str(source.disk), str(dest)).exit_code == 0
    return dest


def test_a_collection_built_from_s3_equals_the_one_from_disk_and_is_current_after(
    source: Source, from_disk: Path, s3_server: SeaweedFS, tmp_path: Path
) -> None:
    dest = tmp_path / "sentinel2"
    args = ("create-collection", "sentinel2", source.url, str(dest), "--endpoint-url", s3_server.endpoint)
    first = run(s3_server, *args)
    assert first.exit_code == 0
    count = sum(1 for p in source.disk.rglob("*") if p.is_file())
    assert f"{source.url}: mirrored into " in first.output
    assert f"{count} downloaded" in first.output and "0 unchanged, 0 removed" in first.output
    built, expected = data_files(dest), data_files(from_disk)
    assert built.keys() == expected.keys()
    assert len([p for p in built if p.endswith(".tif")]) >= 3 * len(source.scenes)
    assert [p for p in built if built[p] != expected[p]] == []
    items = sorted(p.stem for p in dest.rglob("*.json") if p.stem in source.scenes)
    assert items == source.scenes

    # The mirror is the source files, byte for byte, at a path stable for this endpoint and prefix.
    tree = mirror_location(parse_target(source.url), s3_server.endpoint).tree
    mirrored = {p.relative_to(tree): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    on_disk = {p.relative_to(source.disk): p.read_bytes() for p in source.disk.rglob("*") if p.is_file()}
    assert mirrored == on_disk
    before = {p: os.stat(p) for p in tree.rglob("*") if p.is_file()}

    again = run(s3_server, *args)
    assert again.exit_code == 0
    assert f"0 downloaded (0.0 KiB), {len(on_disk)} unchanged, 0 removed" in again.output
    assert f"{dest}: already current" in again.output
    after = {p: os.stat(p) for p in tree.rglob("*") if p.is_file()}
    assert {p: (s.st_ino, s.st_mtime_ns, s.st_ctime_ns) for p, s in before.items()} == {
        p: (s.st_ino, s.st_mtime_ns, s.st_ctime_ns) for p, s in after.items()
    }


def test_objects_changed_or_removed_in_the_bucket_reach_the_next_build(
    source: Source, s3_server: SeaweedFS, tmp_path: Path
) -> None:
    prefix = "changing"
    upload_tree(s3_server, source.disk, prefix)
    url = f"s3://{BUCKET}/{prefix}"
    dest = tmp_path / "sentinel2"
    args = ("create-collection", "sentinel2", url, str(dest), "--endpoint-url", s3_server.endpoint)
    assert run(s3_server, *args).exit_code == 0
    kept, changed, removed = source.scenes
    before = data_files(dest)
    client = s3_server.client()
    band = next(p for p in sorted((source.disk / "sentinel2" / changed).glob("*.tif")) if "B03" in p.name)
    with rasterio.open(band) as file:
        profile, data = file.profile, file.read()
    edited = tmp_path / band.name
    with rasterio.open(edited, "w", **profile) as file:
        file.write(np.where(data > 0, data + 300, data).astype(data.dtype))
    key = f"{prefix}/sentinel2/{changed}/{band.name}"
    client.put_object(Bucket=BUCKET, Key=key, Body=edited.read_bytes())
    gone = [p for p in (source.disk / "sentinel2" / removed).rglob("*") if p.is_file()]
    for path in gone:
        client.delete_object(Bucket=BUCKET, Key=f"{prefix}/{path.relative_to(source.disk).as_posix()}")

    result = run(s3_server, *args)
    assert result.exit_code == 0
    assert "1 downloaded" in result.output and f"{len(gone)} removed" in result.output
    assert "already current" not in result.output
    tree = mirror_location(parse_target(url), s3_server.endpoint).tree
    assert (tree / "sentinel2" / changed / band.name).read_bytes() == edited.read_bytes()
    assert not (tree / "sentinel2" / removed).exists()
    after = data_files(dest)
    assert not any(removed in path for path in after)
    assert [p for p in after if kept in p and after[p] != before[p]] == []
    assert any(changed in p and p.endswith(".tif") and after[p] != before[p] for p in after)
    items = sorted(p.stem for p in dest.rglob("*.json") if p.stem in source.scenes)
    assert items == [kept, changed]


@pytest.mark.parametrize("case", ["no bucket", "no endpoint"])
def test_an_unusable_s3_source_fails_within_seconds_in_one_line(
    s3_server: SeaweedFS, tmp_path: Path, case: str
) -> None:
    if case == "no bucket":
        url, endpoint = "s3://no-such-bucket/inputs", s3_server.endpoint
        expected = f"Error: {url}: no such bucket 'no-such-bucket' at {endpoint}"
    else:
        (port,) = free_ports(1)
        url, endpoint = f"s3://{BUCKET}/inputs", f"http://127.0.0.1:{port}"
        expected = f"Error: {url}: cannot reach the endpoint {endpoint}"
    env = {k: v for k, v in aws_env(s3_server).items() if v is not None}
    start_up = seconds_to_start("stactools_glofnet.build")
    started = time.monotonic()
    completed = subprocess.run(
        [
            stac_command(),
            "glofnet",
            "create-catalog",
            url,
            str(tmp_path / "dest"),
            "--endpoint-url",
            endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **env},
    )
    assert time.monotonic() - started < start_up + 10  # no retries after the start-up
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [expected]
    assert s3_server.secret_key not in completed.stdout + completed.stderr
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["create-collection", "sentinel2", "{tmp}", "{tmp}/d", "--endpoint-url", "http://127.0.0.1:1"],
            "--endpoint-url applies to an s3://BUCKET/PREFIX SOURCE only",
        ),
        (["create-catalog", "s3://Bad_Bucket/p", "{tmp}/d"], "'Bad_Bucket' is not a valid S3 bucket name"),
        (["create-catalog", "s3://bucket/a/../b", "{tmp}/d"], "refusing the prefix"),
        (["create-catalog", "s3://bucket/p", "{tmp}/d", "--endpoint-url", "ftp://x"], "not an endpoint URL"),
        (["acquire", "sentinel2", "s3://bucket/p", "--endpoint-url", "nope"], "not an endpoint URL"),
        (["create-catalog", "{tmp}", "s3://bucket/p"], "DEST a local directory"),
    ],
)
def test_bad_s3_arguments_give_one_line(
    s3_server: SeaweedFS, tmp_path: Path, args: list[str], expected: str
) -> None:
    result = run(s3_server, *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code in (1, 2)
    assert expected in result.output.strip().splitlines()[-1]
    assert "Traceback" not in result.output


def test_a_mirror_without_its_record_is_verified_by_content_not_downloaded_again(
    source: Source, from_disk: Path, s3_server: SeaweedFS, tmp_path: Path
) -> None:
    """What a runner restoring the mirror from a cache, or a lost record, meets."""
    location = mirror_location(parse_target(source.url), s3_server.endpoint)
    dest = tmp_path / "sentinel2"
    args = ("create-collection", "sentinel2", source.url, str(dest), "--endpoint-url", s3_server.endpoint)
    assert run(s3_server, *args).exit_code == 0
    count = sum(1 for p in source.disk.rglob("*") if p.is_file())
    location.state.unlink()
    stray, hidden = location.tree / "sentinel2" / "stray.json", location.tree / ".glofnet-lock-x"
    stray.write_text("{}")
    hidden.write_text("")
    inodes = {
        p: p.stat().st_ino for p in location.tree.rglob("*") if p.is_file() and p not in (stray, hidden)
    }
    result = run(s3_server, *args)
    assert result.exit_code == 0
    assert f"0 downloaded (0.0 KiB), {count} unchanged, 1 removed" in result.output
    assert f"{dest}: already current" in result.output
    assert not stray.exists() and hidden.exists()
    assert {p: p.stat().st_ino for p in inodes} == inodes
    assert data_files(dest) == data_files(from_disk)
