"""publish against a real S3 server (SeaweedFS on 127.0.0.1): readers, increments, crashes, safety."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urljoin

import boto3
import obstore
import pystac
import pytest
from botocore.credentials import Credentials, RefreshableCredentials
from click.testing import CliRunner, Result
from obstore.exceptions import BaseError as StoreError
from stactools.cli.cli import cli

from stactools_glofnet.core.constants import COG, GEOJSON, PARQUET, PNG
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import dumps_json, multihash_sha256
from stactools_glofnet.core.output import MARKER
from stactools_glofnet.publish import MANIFEST_NAME, TransferSettings, parse_target, publish_catalog
from stactools_glofnet.publish.cache import RACY_NS, cache_file
from stactools_glofnet.publish.client import BotocoreCredentials, object_store, s3_client
from stactools_glofnet.publish.connection import environment_settings
from stactools_glofnet.publish.digest import digest_file
from stactools_glofnet.publish.failures import store_error_message
from stactools_glofnet.publish.local import scan_catalog
from stactools_glofnet.publish.media import ASSET_CACHE_CONTROL, STAC_CACHE_CONTROL
from stactools_glofnet.publish.run import Event, PublishReport
from tests.s3server import PUBLIC_BUCKET, DamagingProxy, SeaweedFS
from tests.s3server import s3_server as s3_server

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1 << 20
PHASE_ORDER = {"asset": 0, "item": 1, "catalog": 2, "root": 3}


@pytest.fixture(scope="module", autouse=True)
def aws_environment(s3_server: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The standard AWS environment variables, pointing at the test server's credentials only."""
    nowhere = tmp_path_factory.mktemp("aws") / "absent"
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
        patch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", str(nowhere))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): multihash_sha256(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def _publish(
    server: SeaweedFS,
    catalog: Path,
    prefix: str,
    events: list[tuple[Event, str]] | None = None,
    **options: Any,
) -> PublishReport:
    def record(event: Event, relative: str) -> None:
        if events is not None:
            events.append((event, relative))

    return publish_catalog(
        catalog, f"s3://{PUBLIC_BUCKET}/{prefix}", endpoint_url=server.endpoint, on_event=record, **options
    )


def _listing(client: S3Client, prefix: str) -> dict[str, str]:
    """Keys under ``prefix`` (relative to it) with their ETags."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=PUBLIC_BUCKET, Prefix=prefix + "/"):
        for listed in page.get("Contents", []):
            found[listed["Key"][len(prefix) + 1 :]] = listed["ETag"].strip('"')
    return found


@dataclass
class Crawl:
    """What a plain-HTTP reader found by following every link and asset from the root."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, tuple[str, str]] = field(default_factory=dict)
    """URL -> (Content-Type, Cache-Control)."""


def _get(url: str) -> tuple[bytes, tuple[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read(), (response.headers["Content-Type"], response.headers["Cache-Control"])
    except urllib.error.HTTPError as error:
        raise AssertionError(f"broken link: {url} answers {error.code}") from None


def _crawl(root_url: str) -> Crawl:
    """Fetch, anonymously over HTTP, every STAC object and every asset reachable from ``root_url``;
    fail on any missing object and on any asset whose bytes differ from its file:checksum/size."""
    crawl = Crawl()
    queue = [root_url]
    while queue:
        url = queue.pop()
        if url in crawl.documents:
            continue
        body, crawl.headers[url] = _get(url)
        document = crawl.documents[url] = json.loads(body)
        for link in document["links"]:
            target = urljoin(url, link["href"])
            if link["rel"] in ("child", "item"):
                queue.append(target)
            elif link["rel"] in ("root", "parent", "collection", "self"):
                _get(target)
        for asset in document.get("assets", {}).values():
            target = urljoin(url, asset["href"])
            if asset.get("type") == "application/vnd.zarr":
                metadata = target + "/.zmetadata"
                _, crawl.headers[metadata] = _get(metadata)
                continue
            data, crawl.headers[target] = _get(target)
            if "file:checksum" in asset:
                assert "1220" + hashlib.sha256(data).hexdigest() == asset["file:checksum"], target
                assert len(data) == asset["file:size"], target
    return crawl


@pytest.fixture(scope="module")
def published(s3_server: SeaweedFS, built_catalog: Path) -> tuple[PublishReport, list[tuple[Event, str]]]:
    """The built sample catalog published as it is (relative links) to ``sample``."""
    before = _tree(built_catalog)
    events: list[tuple[Event, str]] = []
    report = _publish(s3_server, built_catalog, "sample", events)
    assert _tree(built_catalog) == before, "publishing must not touch the built catalog"
    return report, events


def test_first_publish_uploads_everything_assets_first_root_last(
    published: tuple[PublishReport, list[tuple[Event, str]]], built_catalog: Path, s3_server: SeaweedFS
) -> None:
    report, events = published
    kinds = {file.relative: file.kind for file in scan_catalog(built_catalog).files}
    built = set(_tree(built_catalog)) - {MARKER}  # the marker says who wrote the directory; not published
    assert set(kinds) == built, "every file of a fresh build is reachable from the root"
    assert kinds["extension/v1.0.0/schema.json"] == "asset", "the root's describedby schema is published"
    assert [relative for _, relative in events] == list(report.uploaded)
    assert set(report.uploaded) == set(kinds) | {MANIFEST_NAME}
    assert report.uploaded[-2:] == ("catalog.json", MANIFEST_NAME)
    order = [PHASE_ORDER[kinds[relative]] for relative in report.uploaded[:-1]]
    assert order == sorted(order), "assets, then items, then catalogs and collections, then the root"
    levels = {file.relative: file.level for file in scan_catalog(built_catalog).files}
    catalogs = [levels[r] for r in report.uploaded if kinds.get(r) == "catalog"]
    # The sample's collections link their items directly (no partition catalogs at level 2).
    assert catalogs == sorted(catalogs) and set(catalogs) == {1}, "partitions before collections"
    assert report.deleted == () and report.plan.stale == ()
    parts = sum(
        1 for relative in kinds if TransferSettings().multipart((built_catalog / relative).stat().st_size)
    )
    assert report.hashed == parts, "new objects are hashed as they are uploaded (in parts: SHA-256 first)"
    manifest = json.loads(
        s3_server.client().get_object(Bucket=PUBLIC_BUCKET, Key=f"sample/{MANIFEST_NAME}")["Body"].read()
    )
    for relative, entry in manifest["objects"].items():
        path = built_catalog / relative
        assert "1220" + entry["sha256"] == multihash_sha256(path) and entry["size"] == path.stat().st_size


def test_readers_traverse_the_published_catalog_over_http(
    published: tuple[PublishReport, list[tuple[Event, str]]], s3_server: SeaweedFS, built_catalog: Path
) -> None:
    from pystac_client import Client

    root_url = s3_server.public_url(PUBLIC_BUCKET, "sample/catalog.json")
    crawl = _crawl(root_url)
    local = [f for f in scan_catalog(built_catalog).files if f.kind != "asset"]
    assert len(crawl.documents) == len(local)

    root = pystac.Catalog.from_file(root_url)
    collections = list(root.get_all_collections())
    assert {c.id for c in collections} == {
        c.id for c in pystac.Catalog.from_file(str(built_catalog / "catalog.json")).get_all_collections()
    }
    items = list(root.get_items(recursive=True))
    assert len(items) == sum(1 for f in local if f.kind == "item")
    for item in items:
        for asset in item.assets.values():
            assert asset.get_absolute_href().startswith(s3_server.endpoint)  # type: ignore[union-attr]

    with warnings.catch_warnings():
        # pystac-client warns that a static catalog is not a STAC API; that is what it is.
        warnings.simplefilter("ignore")
        client = Client.open(root_url)
        assert {c.id for c in client.get_collections()} == {c.id for c in collections}
        events = client.get_collection("glofnet-events")
        assert events is not None and len(list(events.get_items(recursive=True))) >= 10

    by_suffix: dict[str, set[tuple[str, str]]] = {}
    for url, headers in crawl.headers.items():
        name = url.rsplit("/", 1)[-1]
        by_suffix.setdefault(name.rsplit(".", 1)[-1] if "." in name else "", set()).add(headers)
    assert by_suffix["tif"] == {(COG, ASSET_CACHE_CONTROL)}
    assert by_suffix["parquet"] == {(PARQUET, ASSET_CACHE_CONTROL)}
    assert by_suffix["png"] == {(PNG, ASSET_CACHE_CONTROL)}
    assert by_suffix["zmetadata"] == {("application/json", ASSET_CACHE_CONTROL)}
    assert crawl.headers[root_url] == ("application/json", STAC_CACHE_CONTROL)
    types = {crawl.headers[url] for url, document in crawl.documents.items() if document["type"] == "Feature"}
    assert types == {(GEOJSON, STAC_CACHE_CONTROL)}
    types = {crawl.headers[url] for url, document in crawl.documents.items() if document["type"] != "Feature"}
    assert types == {("application/json", STAC_CACHE_CONTROL)}
    chunk = s3_server.public_url(PUBLIC_BUCKET, "sample/glofnet-modis-lst/lst_cube.zarr/time/0")
    assert _get(chunk)[1] == ("application/octet-stream", "public, max-age=86400"), (
        "assets keep their key when rebuilt, so they are cached for a day and never immutable"
    )


def test_republishing_unchanged_uploads_nothing(
    published: tuple[PublishReport, list[tuple[Event, str]]], s3_server: SeaweedFS, built_catalog: Path
) -> None:
    before = s3_server.client().get_object(Bucket=PUBLIC_BUCKET, Key=f"sample/{MANIFEST_NAME}")["ETag"]
    again = _publish(s3_server, built_catalog, "sample")
    assert again.uploaded == ()
    assert {a.verb for a in again.plan.actions} == {"skip"} and len(again.plan.actions) == len(
        published[0].uploaded
    ) - 1
    after = s3_server.client().get_object(Bucket=PUBLIC_BUCKET, Key=f"sample/{MANIFEST_NAME}")["ETag"]
    assert after == before


def test_only_files_reachable_from_the_root_are_published(
    published: tuple[PublishReport, list[tuple[Event, str]]],
    s3_server: SeaweedFS,
    built_catalog: Path,
    tmp_path: Path,
) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(built_catalog, catalog)  # not hard links: they change the shared files' ctime
    (catalog / ".env").write_text("AWS_SECRET_ACCESS_KEY=fake-secret-for-the-test\n")
    (catalog / "notes.txt").write_text("not part of the catalog\n")
    (catalog / ".git").mkdir()
    (catalog / ".git" / "config").write_text("[core]\n")
    client = s3_server.client()

    report = _publish(s3_server, catalog, "sample")
    assert report.uploaded == () and report.refreshed == (), "the sample was published from the same build"
    assert report.plan.left_out is not None and report.plan.left_out.startswith("4 files ")  # with the marker
    assert f"{'leave':<7} {'unlinked':<11} {report.plan.left_out}" in report.plan.lines()
    listing = _listing(client, "sample")
    assert not {".env", "notes.txt", ".git/config"} & set(listing)
    schema = client.head_object(Bucket=PUBLIC_BUCKET, Key="sample/extension/v1.0.0/schema.json")
    assert schema["ContentType"] == "application/schema+json", "the type its describedby link declares"
    zarr = "glofnet-modis-lst/lst_cube.zarr/"
    assert {zarr + name for name in (".zmetadata", ".zgroup", ".zattrs", "time/.zarray")} <= set(listing)


def _runner_invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["glofnet", *args])


def test_cli_dry_run_prints_the_plan_and_never_the_credentials(
    published: tuple[PublishReport, list[tuple[Event, str]]],
    s3_server: SeaweedFS,
    built_catalog: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    changed = tmp_path / "catalog"
    shutil.copytree(built_catalog, changed)
    (changed / "glofnet-events" / "collection.json").write_text(
        (changed / "glofnet-events" / "collection.json").read_text().replace("GLOF", "GLOF ", 1)
    )
    result = _runner_invoke(
        "publish",
        str(changed),
        f"s3://{PUBLIC_BUCKET}/sample",
        "--endpoint-url",
        s3_server.endpoint,
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(f"s3://{PUBLIC_BUCKET}/sample: dry run, 1 to upload")
    uploads = [line.split() for line in lines if line.startswith("upload")]
    assert [(u[1], u[2]) for u in uploads] == [
        ("catalogs-1", "glofnet-events/collection.json"),
        ("manifest", MANIFEST_NAME),
    ]
    assert sum(line.startswith("skip") for line in lines) == len(published[0].uploaded) - 2
    assert s3_server.secret_key not in result.output
    published_collection = (
        s3_server.client()
        .get_object(Bucket=PUBLIC_BUCKET, Key="sample/glofnet-events/collection.json")["Body"]
        .read()
    )
    assert published_collection == (built_catalog / "glofnet-events" / "collection.json").read_bytes()

    missing = _runner_invoke(
        "publish", str(changed), "s3://no-such-bucket/x", "--endpoint-url", s3_server.endpoint
    )
    assert missing.exit_code == 1 and missing.output.strip().splitlines() == [
        "Error: s3://no-such-bucket/x: ListObjectsV2 failed: NoSuchBucket The specified bucket does not exist"
    ]

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key[::-1])
    denied = _runner_invoke(
        "publish", str(changed), f"s3://{PUBLIC_BUCKET}/sample", "--endpoint-url", s3_server.endpoint
    )
    assert denied.exit_code == 1
    assert len(denied.output.strip().splitlines()) == 1 and "Traceback" not in denied.output
    assert "ListObjectsV2 failed" in denied.output
    assert s3_server.secret_key[::-1] not in denied.output and s3_server.secret_key not in denied.output


def test_real_process_dry_run_reads_the_standard_aws_environment(
    published: tuple[PublishReport, list[tuple[Event, str]]], s3_server: SeaweedFS, built_catalog: Path
) -> None:
    stac = str(Path(sys.executable).parent / "stac")
    result = subprocess.run(
        [
            stac,
            "glofnet",
            "publish",
            str(built_catalog / "catalog.json"),
            f"s3://{PUBLIC_BUCKET}/sample",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, AWS_ENDPOINT_URL=s3_server.endpoint),
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        .splitlines()[-1]
        .startswith(f"s3://{PUBLIC_BUCKET}/sample: dry run, 0 to upload")
    )
    assert s3_server.secret_key not in result.stdout + result.stderr
    help_text = subprocess.run(
        [stac, "glofnet", "publish", "--help"], capture_output=True, text=True, check=True
    )
    assert "Example: stac glofnet publish" in help_text.stdout


def _python_m_publish(server: SeaweedFS, catalog: Path, target: str, *options: str) -> tuple[str, set[str]]:
    """`python -X importtime -m stactools_glofnet publish`: its last line and the modules it imported."""
    command = [sys.executable, "-X", "importtime", "-m", "stactools_glofnet", "publish"]
    result = subprocess.run(
        [*command, str(catalog), target, "--endpoint-url", server.endpoint, *options],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    return result.stdout.strip().splitlines()[-1], imported


def test_python_m_runs_the_same_publish_without_the_stac_start_up(
    published: tuple[PublishReport, list[tuple[Event, str]]], s3_server: SeaweedFS, built_catalog: Path
) -> None:
    target = f"s3://{PUBLIC_BUCKET}/sample"
    last, imported = _python_m_publish(s3_server, built_catalog, target, "--dry-run")
    assert last.startswith(f"{target}: dry run, 0 to upload")
    assert "stactools_glofnet.publish" in imported
    assert not {"stactools.cli", "stactools.core", "rasterio", "pystac", "boto3"} & imported


def test_changing_one_asset_uploads_it_and_its_item_only(
    s3_server: SeaweedFS, built_catalog: Path, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(built_catalog, catalog)
    _publish(s3_server, catalog, "changing")
    item_path = next(p for p in sorted(catalog.glob("glofnet-itslive/*/*.json")))
    item = json.loads(item_path.read_text())
    asset_path = item_path.parent / "v.tif"
    asset_path.write_bytes(asset_path.read_bytes() + b"\0" * 16)
    item["assets"]["v"]["file:checksum"] = multihash_sha256(asset_path)
    item["assets"]["v"]["file:size"] = asset_path.stat().st_size
    item_path.write_text(dumps_json(item))

    events: list[tuple[Event, str]] = []
    report = _publish(s3_server, catalog, "changing", events)
    asset_key = asset_path.relative_to(catalog).as_posix()
    item_key = item_path.relative_to(catalog).as_posix()
    assert report.uploaded == (asset_key, item_key, MANIFEST_NAME)
    assert [a.reason for a in report.plan.actions if a.verb == "upload"] == ["changed", "changed"]
    listing = _listing(s3_server.client(), "changing")
    assert listing[asset_key] == digest_file(asset_path, TransferSettings()).etag
    assert _publish(s3_server, catalog, "changing").uploaded == ()


def test_public_url_gives_absolute_self_links_without_touching_the_build(
    s3_server: SeaweedFS, built_catalog: Path
) -> None:
    before = _tree(built_catalog)
    public = s3_server.public_url(PUBLIC_BUCKET, "absolute")
    _publish(s3_server, built_catalog, "absolute", public_url=public, catalog_type="absolute-published")
    assert _tree(built_catalog) == before

    crawl = _crawl(public + "/catalog.json")
    for url, document in crawl.documents.items():
        self_links = [link["href"] for link in document["links"] if link["rel"] == "self"]
        assert self_links == [url]
        for link in document["links"]:
            assert link["href"].startswith(("http://", "https://", "/")), link
        for asset in document.get("assets", {}).values():
            assert asset["href"].startswith(public + "/")
    root = pystac.Catalog.from_file(public + "/catalog.json")
    assert root.catalog_type == pystac.CatalogType.ABSOLUTE_PUBLISHED
    assert root.get_self_href() == public + "/catalog.json"


def test_delete_removes_stale_objects_after_the_new_root_and_only_under_the_prefix(
    s3_server: SeaweedFS, built_catalog: Path
) -> None:
    client = s3_server.client()
    _publish(s3_server, built_catalog, "deleting")
    stale = ["old/scene.tif", "glofnet-events/gone.json"]
    outside = ["deleting-sibling/keep.txt", "other/deleting/keep.txt"]
    for key in [f"deleting/{k}" for k in stale] + outside:
        client.put_object(Bucket=PUBLIC_BUCKET, Key=key, Body=b"x")

    kept = _publish(s3_server, built_catalog, "deleting")
    assert kept.uploaded == () and kept.plan.stale == tuple(sorted(stale))
    assert kept.summary().endswith("2 stale kept (--delete removes them)")
    assert set(stale) <= set(_listing(client, "deleting"))

    public = s3_server.public_url(PUBLIC_BUCKET, "deleting")
    events: list[tuple[Event, str]] = []
    report = _publish(s3_server, built_catalog, "deleting", events, public_url=public, delete=True)
    assert events == [
        ("upload", "catalog.json"),
        ("upload", MANIFEST_NAME),
        *(("delete", key) for key in sorted(stale)),
    ]
    assert report.deleted == tuple(sorted(stale))
    remaining = _listing(client, "deleting")
    assert not set(stale) & set(remaining)
    for key in outside:
        assert client.get_object(Bucket=PUBLIC_BUCKET, Key=key)["Body"].read() == b"x"
    root = json.loads(_get(public + "/catalog.json")[0])
    assert root["links"][0] == {"href": public + "/catalog.json", "rel": "self", "type": "application/json"}
    collection = _get(public + "/glofnet-events/collection.json")[0]
    assert collection == (built_catalog / "glofnet-events" / "collection.json").read_bytes()
    assert (
        pystac.Catalog.from_file(public + "/catalog.json").catalog_type
        == pystac.CatalogType.RELATIVE_PUBLISHED
    )


@pytest.mark.parametrize("target", [f"s3://{PUBLIC_BUCKET}", f"s3://{PUBLIC_BUCKET}//"])
def test_delete_at_the_bucket_root_is_refused(s3_server: SeaweedFS, tmp_path: Path, target: str) -> None:
    root = _write_collection(tmp_path / "cat", b"data")
    result = _runner_invoke("publish", str(root), target, "--delete", "--endpoint-url", s3_server.endpoint)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: s3://{PUBLIC_BUCKET}: --delete needs a non-empty PREFIX (s3://BUCKET/PREFIX): at the "
        "bucket root it would delete every object that is not part of the catalog"
    ]
    s3_server.client().put_object(Bucket=PUBLIC_BUCKET, Key="bucket-root/other.txt", Body=b"x")
    plan = _publish(s3_server, root, "", dry_run=True).plan
    assert "bucket-root/other.txt" in plan.stale and not plan.delete, "without --delete it is a valid target"


def _write_collection(directory: Path, payload: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "big.bin").write_bytes(payload)
    collection = {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": "big",
        "description": "One large asset",
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": {"bbox": [[74.4, 36.3, 74.6, 36.5]]},
            "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]},
        },
        "links": [{"href": "./collection.json", "rel": "root", "type": "application/json"}],
        "assets": {"big": {"href": "./big.bin", "type": "application/x-test"}},
    }
    (directory / "collection.json").write_text(dumps_json(collection))
    return directory / "collection.json"


def test_large_files_go_in_parts_and_compare_by_etag_without_a_manifest(
    s3_server: SeaweedFS, tmp_path: Path
) -> None:
    settings = TransferSettings(multipart_threshold=5 * MIB, part_size=5 * MIB, concurrency=3)
    payload = os.urandom(11 * MIB + 123)
    root = _write_collection(tmp_path / "big", payload)
    client = s3_server.client()

    first = _publish(s3_server, root, "multipart", settings=settings)
    assert first.uploaded == ("big.bin", "collection.json", MANIFEST_NAME)
    etag = _listing(client, "multipart")["big.bin"]
    assert etag.endswith("-3") and etag == digest_file(tmp_path / "big" / "big.bin", settings).etag
    head = client.head_object(Bucket=PUBLIC_BUCKET, Key="multipart/big.bin")
    assert head["ContentType"] == "application/x-test"
    assert head["Metadata"]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert client.get_object(Bucket=PUBLIC_BUCKET, Key="multipart/big.bin")["Body"].read() == payload

    assert _publish(s3_server, root, "multipart", settings=settings).uploaded == ()
    client.delete_object(Bucket=PUBLIC_BUCKET, Key=f"multipart/{MANIFEST_NAME}")
    without_manifest = _publish(s3_server, root, "multipart", settings=settings)
    assert without_manifest.uploaded == (MANIFEST_NAME,)
    assert without_manifest.refreshed == ("big.bin", "collection.json"), "copied in place, not re-sent"
    assert _publish(s3_server, root, "multipart", settings=settings).uploaded == ()

    same_size = bytearray(payload)
    same_size[7 * MIB] ^= 0xFF
    (tmp_path / "big" / "big.bin").write_bytes(bytes(same_size))
    changed = _publish(s3_server, root, "multipart", settings=settings)
    assert changed.uploaded == ("big.bin", MANIFEST_NAME), "a same-size edit is found by its hash"
    assert client.get_object(Bucket=PUBLIC_BUCKET, Key="multipart/big.bin")["Body"].read() == bytes(same_size)


def test_objects_with_unknown_or_outdated_headers_are_refreshed_by_a_server_side_copy(
    s3_server: SeaweedFS, tmp_path: Path
) -> None:
    root = _write_collection(tmp_path / "cat", b"x" * 1000)
    client = s3_server.client()
    for name in ("big.bin", "collection.json"):  # the right bytes, uploaded by another tool
        body = (root.parent / name).read_bytes()
        client.put_object(Bucket=PUBLIC_BUCKET, Key=f"refresh/{name}", Body=body, ContentType="text/plain")

    def headers(name: str) -> tuple[str, str, dict[str, str]]:
        head = client.head_object(Bucket=PUBLIC_BUCKET, Key=f"refresh/{name}")
        return head["ContentType"], head.get("CacheControl", ""), head["Metadata"]

    events: list[tuple[Event, str]] = []
    report = _publish(s3_server, root, "refresh", events)
    assert [(a.verb, a.reason) for a in report.plan.actions] == [("refresh", "headers unknown")] * 2
    assert events == [("refresh", "big.bin"), ("refresh", "collection.json"), ("upload", MANIFEST_NAME)]
    sha256 = hashlib.sha256(b"x" * 1000).hexdigest()
    assert headers("big.bin") == ("application/x-test", ASSET_CACHE_CONTROL, {"sha256": sha256})
    assert headers("collection.json")[:2] == ("application/json", STAC_CACHE_CONTROL)
    assert client.get_object(Bucket=PUBLIC_BUCKET, Key="refresh/big.bin")["Body"].read() == b"x" * 1000
    again = _publish(s3_server, root, "refresh")
    assert again.uploaded == () and again.refreshed == ()

    # Published by an older release with other headers, recorded as such in its manifest.
    old = "public, max-age=31536000, immutable"
    client.copy_object(
        Bucket=PUBLIC_BUCKET,
        Key="refresh/big.bin",
        CopySource={"Bucket": PUBLIC_BUCKET, "Key": "refresh/big.bin"},
        MetadataDirective="REPLACE",
        ContentType="application/x-test",
        CacheControl=old,
    )
    manifest = json.loads(
        client.get_object(Bucket=PUBLIC_BUCKET, Key=f"refresh/{MANIFEST_NAME}")["Body"].read()
    )
    manifest["objects"]["big.bin"]["cache_control"] = old
    client.put_object(
        Bucket=PUBLIC_BUCKET, Key=f"refresh/{MANIFEST_NAME}", Body=dumps_json(manifest).encode()
    )
    upgraded = _publish(s3_server, root, "refresh")
    assert upgraded.refreshed == ("big.bin",) and upgraded.uploaded == (MANIFEST_NAME,)
    assert headers("big.bin") == ("application/x-test", ASSET_CACHE_CONTROL, {"sha256": sha256})


def test_a_rewritten_document_that_changes_after_hashing_is_refused(
    s3_server: SeaweedFS, tmp_path: Path
) -> None:
    root = _write_collection(tmp_path / "cat", b"data")

    def edit_after_the_assets(_event: Event, relative: str) -> None:
        if relative == "big.bin":
            root.write_text(root.read_text().replace("One large asset", "Edited meanwhile"))

    with pytest.raises(GlofnetError, match="changed after it was hashed"):
        publish_catalog(
            root,
            f"s3://{PUBLIC_BUCKET}/edited",
            endpoint_url=s3_server.endpoint,
            public_url=s3_server.public_url(PUBLIC_BUCKET, "edited"),
            on_event=edit_after_the_assets,
        )
    assert set(_listing(s3_server.client(), "edited")) == {"big.bin"}, "rendered again, not kept from hashing"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("s3://bucket/../up", "'..'"),
        ("s3://bucket/a//b", "empty"),
        ("s3://Bad_Bucket/x", "not a valid S3 bucket name"),
        ("https://bucket/x", "s3://BUCKET/PREFIX"),
    ],
)
def test_unsafe_targets_are_refused(target: str, reason: str) -> None:
    with pytest.raises(GlofnetError, match=reason):
        parse_target(target)


def test_keys_that_escape_the_prefix_are_refused() -> None:
    target = parse_target("s3://bucket/prefix/")
    assert target.prefix == "prefix" and target.key("a/b.json") == "prefix/a/b.json"
    for relative in ("../x", "a/../../x", "/etc/passwd", "a/./b", "a\\b"):
        with pytest.raises(GlofnetError):
            target.key(relative)


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("symlink-out", "symbolic link points outside the catalog"),
        ("symlink-dir", "symbolic links to directories are not published"),
        ("href-out", "leaves the catalog directory"),
        ("href-missing", "points to nothing in the catalog"),
        ("manifest-name", "reserved for the publish manifest"),
        ("bad-json", "not valid JSON"),
        ("child-not-stac", "but it is not a STAC Catalog, Collection or Item"),
    ],
)
def test_unsafe_or_broken_catalogs_are_refused_before_the_bucket_changes(
    tmp_path: Path, problem: str, message: str
) -> None:
    root = _write_collection(tmp_path / "cat", b"data")
    outside = tmp_path / "secret.txt"
    outside.write_text("not for publishing")
    collection = json.loads(root.read_text())
    if problem == "symlink-out":
        (root.parent / "link.txt").symlink_to(outside)
        collection["assets"]["link"] = {"href": "./link.txt"}
    elif problem == "symlink-dir":
        (root.parent / "store.zarr").mkdir()
        (root.parent / "store.zarr" / ".zgroup").write_text("{}")
        (root.parent / "store.zarr" / "x").symlink_to(tmp_path)
        collection["assets"]["store"] = {"href": "./store.zarr", "type": "application/vnd.zarr"}
    elif problem == "href-out":
        collection["assets"]["big"]["href"] = "../secret.txt"
    elif problem == "href-missing":
        collection["links"].append({"href": "./missing/catalog.json", "rel": "child"})
    elif problem == "manifest-name":
        (root.parent / MANIFEST_NAME).write_text("{}")
        collection["assets"]["manifest"] = {"href": f"./{MANIFEST_NAME}"}
    elif problem == "bad-json":
        (root.parent / "broken.json").write_text("{")
        collection["links"].append({"href": "./broken.json", "rel": "child"})
    elif problem == "child-not-stac":
        (root.parent / "plain.json").write_text('{"type": "Collection"}')
        collection["links"].append({"href": "./plain.json", "rel": "child"})
    root.write_text(dumps_json(collection))
    with pytest.raises(GlofnetError, match=message):
        scan_catalog(root)
    result = _runner_invoke(
        "publish", str(root), "s3://bucket/prefix", "--endpoint-url", "http://127.0.0.1:9"
    )
    assert result.exit_code == 1 and message in result.output and len(result.output.strip().splitlines()) == 1


def _assert_root_is_closed(client: S3Client, prefix: str, public: str) -> bool:
    """If the root exists under ``prefix``, every object it references transitively exists too.

    Returns whether the root exists.
    """
    listing = _listing(client, prefix)
    directories = {posixpath.dirname(key) for key in listing}
    if "catalog.json" not in listing:
        return False
    queue, seen = ["catalog.json"], set()
    while queue:
        relative = queue.pop()
        if relative in seen:
            continue
        seen.add(relative)
        document = json.loads(
            client.get_object(Bucket=PUBLIC_BUCKET, Key=f"{prefix}/{relative}")["Body"].read()
        )
        references = [(link["rel"], link["href"]) for link in document["links"]]
        references += [("asset", asset["href"]) for asset in document.get("assets", {}).values()]
        for rel, href in references:
            if href.startswith(public + "/"):
                target = href[len(public) + 1 :]
            elif href.startswith(("http://", "https://", "/")):
                continue
            else:
                target = posixpath.normpath(posixpath.join(posixpath.dirname(relative), href))
            assert target in listing or any(d == target or d.startswith(target + "/") for d in directories), (
                f"{relative} references {href}, which is missing"
            )
            if rel in ("child", "item"):
                queue.append(target)
    return True


def test_killed_server_mid_publish_never_exposes_a_broken_root_and_the_rerun_converges(
    s3_server: SeaweedFS, built_catalog: Path
) -> None:
    client = s3_server.client()
    public = s3_server.public_url(PUBLIC_BUCKET, "crash")
    files = {f.relative: f for f in scan_catalog(built_catalog).files}
    quick = TransferSettings(max_attempts=2)

    def kill_after(count: int) -> Callable[[Event, str], None]:
        seen: list[str] = []

        def hook(_event: Event, relative: str) -> None:
            seen.append(relative)
            if len(seen) == count:
                s3_server.kill()

        return hook

    # A first publish dies among the assets: no root may appear.
    with pytest.raises(GlofnetError):
        publish_catalog(
            built_catalog,
            f"s3://{PUBLIC_BUCKET}/crash",
            endpoint_url=s3_server.endpoint,
            settings=quick,
            on_event=kill_after(300),
        )
    s3_server.start()
    assert not _assert_root_is_closed(client, "crash", public)
    present = _listing(client, "crash")
    assert 300 <= len(present) < len(files)
    for relative, etag in present.items():
        assert etag == digest_file(files[relative].path, quick).etag, f"{relative} is incomplete"

    rerun = _publish(s3_server, built_catalog, "crash")
    assert set(rerun.uploaded) == (set(files) - set(present)) | {MANIFEST_NAME}, "done work is not redone"
    assert set(rerun.refreshed) == set(present), "objects without a manifest entry get our headers"
    assert _assert_root_is_closed(client, "crash", public)
    assert _publish(s3_server, built_catalog, "crash").uploaded == ()

    # A republish with every JSON document changed dies among the items: the old root stays whole.
    with pytest.raises(GlofnetError):
        publish_catalog(
            built_catalog,
            f"s3://{PUBLIC_BUCKET}/crash",
            endpoint_url=s3_server.endpoint,
            public_url=public,
            catalog_type="absolute-published",
            settings=quick,
            on_event=kill_after(40),
        )
    s3_server.start()
    assert _assert_root_is_closed(client, "crash", public)
    old_root = json.loads(client.get_object(Bucket=PUBLIC_BUCKET, Key="crash/catalog.json")["Body"].read())
    assert all(link["rel"] != "self" for link in old_root["links"]), "the new root must not be in place yet"

    final = _publish(s3_server, built_catalog, "crash", public_url=public, catalog_type="absolute-published")
    documents = sum(1 for f in files.values() if f.kind != "asset")
    assert 0 < len(final.uploaded) <= documents + 1 - 40
    assert _assert_root_is_closed(client, "crash", public)
    assert len(_crawl(public + "/catalog.json").documents) == documents
    again = _publish(s3_server, built_catalog, "crash", public_url=public, catalog_type="absolute-published")
    assert again.uploaded == ()


def _settle(*paths: Path) -> None:
    """Wait until ``paths`` last changed longer ago than the digest cache's racy window."""
    newest = max(max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in paths)
    wait = (newest + RACY_NS - time.time_ns()) / 1e9
    if wait > 0:
        time.sleep(wait + 0.05)


@pytest.fixture
def digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user cache directory of this test's own."""
    monkeypatch.setenv("GLOFNET_CACHE_DIR", str(tmp_path / "user-cache"))
    return tmp_path / "user-cache"


def test_a_republish_takes_unchanged_digests_from_the_local_cache_without_reading_files(
    s3_server: SeaweedFS, built_catalog: Path, digest_cache: Path
) -> None:
    files = scan_catalog(built_catalog).files
    _settle(*(file.path for file in files))
    first = _publish(s3_server, built_catalog, "cached")
    parts = sum(1 for file in files if TransferSettings().multipart(file.path.stat().st_size))
    assert first.hashed == parts and first.cached == 0 and len(first.uploaded) == len(files) + 1
    path = cache_file(built_catalog.resolve())
    assert path.is_relative_to(digest_cache) and not path.is_relative_to(built_catalog)
    recorded = json.loads(path.read_text())["files"]
    assert set(recorded) == {file.relative for file in files}, "digests computed while uploading are kept"

    again = _publish(s3_server, built_catalog, "cached")
    assert again.uploaded == () and again.hashed == 0 and again.cached == len(files)

    # The cache is trusted while a file's signature holds: a wrong SHA-256 recorded for an unchanged
    # asset makes it look changed without the file being read; the upload, which reads it, refuses
    # to publish it under that digest, and the entry is dropped so the next run hashes it again.
    asset = next(file.relative for file in files if file.relative.endswith(".tif"))
    data = json.loads(path.read_text())
    data["files"][asset][6] = "0" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(GlofnetError, match="changed after it was hashed"):
        _publish(s3_server, built_catalog, "cached")
    assert asset not in json.loads(path.read_text())["files"]
    healed = _publish(s3_server, built_catalog, "cached")
    assert healed.uploaded == () and healed.hashed == 1 and healed.cached == len(files) - 1

    uncached = _publish(s3_server, built_catalog, "cached", digest_cache=False)
    assert uncached.uploaded == () and uncached.hashed == len(files) and uncached.cached == 0


def test_a_same_size_edit_with_its_mtime_restored_is_still_seen(
    s3_server: SeaweedFS, tmp_path: Path, digest_cache: Path
) -> None:
    root = _write_collection(tmp_path / "cat", b"a" * 3000)
    big = root.parent / "big.bin"
    _settle(root, big)
    _publish(s3_server, root, "restored")
    assert _publish(s3_server, root, "restored").cached == 2

    before = big.stat()
    big.write_bytes(b"b" * 3000)
    os.utime(big, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = big.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    report = _publish(s3_server, root, "restored")
    assert report.uploaded == ("big.bin", MANIFEST_NAME) and report.hashed == 1, "its ctime moved on"
    body = s3_server.client().get_object(Bucket=PUBLIC_BUCKET, Key="restored/big.bin")["Body"].read()
    assert body == b"b" * 3000


@pytest.mark.parametrize(
    ("content", "message"),
    [(b'{"version": 1, "files": [', "unreadable"), (b"[]", "not a digest cache of this catalog")],
)
def test_a_corrupt_digest_cache_is_ignored_with_a_warning(
    s3_server: SeaweedFS,
    tmp_path: Path,
    digest_cache: Path,
    caplog: pytest.LogCaptureFixture,
    content: bytes,
    message: str,
) -> None:
    root = _write_collection(tmp_path / "cat", b"data")
    _settle(root, root.parent / "big.bin")
    _publish(s3_server, root, "corrupt")
    path = cache_file(root.parent.resolve())
    path.write_bytes(content)
    with caplog.at_level("WARNING", logger="stactools_glofnet.publish.cache"):
        report = _publish(s3_server, root, "corrupt")
    assert report.uploaded == () and report.hashed == 2
    assert [r.getMessage() for r in caplog.records if message in r.getMessage()], caplog.text
    assert set(json.loads(path.read_text())["files"]) == {"big.bin", "collection.json"}, "rewritten"


def test_a_new_file_changed_after_the_plan_is_refused(s3_server: SeaweedFS, tmp_path: Path) -> None:
    root = _write_collection(tmp_path / "cat", b"data")

    def edit_after_the_assets(_event: Event, relative: str) -> None:
        if relative == "big.bin":
            root.write_text(root.read_text().replace("One large asset", "One large asset, edited"))

    with pytest.raises(GlofnetError, match="changed after it was planned"):
        publish_catalog(
            root,
            f"s3://{PUBLIC_BUCKET}/planned",
            endpoint_url=s3_server.endpoint,
            on_event=edit_after_the_assets,
        )
    assert set(_listing(s3_server.client(), "planned")) == {"big.bin"}


def test_an_unreadable_manifest_is_ignored_and_objects_compare_by_etag(
    s3_server: SeaweedFS, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _write_collection(tmp_path / "cat", b"data")
    _publish(s3_server, root, "manifest")
    client = s3_server.client()
    key = f"manifest/{MANIFEST_NAME}"
    manifest = json.loads(client.get_object(Bucket=PUBLIC_BUCKET, Key=key)["Body"].read())
    manifest["objects"]["big.bin"]["extra"] = "not a manifest field"
    client.put_object(Bucket=PUBLIC_BUCKET, Key=key, Body=dumps_json(manifest).encode())
    with caplog.at_level("WARNING", logger="stactools_glofnet.publish.remote"):
        report = _publish(s3_server, root, "manifest")
    assert f"ignoring the unreadable manifest {key}: the entry of 'big.bin'" in caplog.text
    assert report.refreshed == ("big.bin", "collection.json") and report.uploaded == (MANIFEST_NAME,)
    assert _publish(s3_server, root, "manifest").uploaded == ()


@pytest.mark.parametrize(("size", "operation"), [(1000, "PutObject"), (6 * MIB, "UploadPart")])
def test_a_body_damaged_in_transit_is_refused_by_the_store(
    s3_server: SeaweedFS, tmp_path: Path, size: int, operation: str
) -> None:
    # A single request carries x-amz-checksum-sha256 (obstore), each part Content-MD5 (botocore).
    settings = TransferSettings(multipart_threshold=5 * MIB, part_size=5 * MIB, max_attempts=2)
    root = _write_collection(tmp_path / "cat", os.urandom(size))
    proxy = DamagingProxy(s3_server.endpoint)
    try:
        with pytest.raises(GlofnetError) as raised:
            publish_catalog(
                root, f"s3://{PUBLIC_BUCKET}/damaged-{size}", endpoint_url=proxy.endpoint, settings=settings
            )
    finally:
        proxy.close()
    message = str(raised.value)
    assert message.startswith(f"s3://{PUBLIC_BUCKET}/damaged-{size}/big.bin: {operation} failed: BadDigest")
    assert "\n" not in message and proxy.damaged >= 1
    assert _listing(s3_server.client(), f"damaged-{size}") == {}


def test_store_errors_are_one_line_without_the_endpoint(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings = TransferSettings(max_attempts=2)
    store = object_store(s3_client(settings, closed), PUBLIC_BUCKET, settings)
    with pytest.raises(StoreError) as raised:
        obstore.put(store, "x/y.json", b"{}")
    message = store_error_message(raised.value)
    assert "\n" not in message and "127.0.0.1" not in message and "Connection refused" in message


def test_the_store_takes_botocore_credentials_and_asks_again_for_temporary_ones() -> None:
    static = BotocoreCredentials(Credentials("AKID", "SECRET"))()
    assert static == {
        "access_key_id": "AKID",
        "secret_access_key": "SECRET",
        "token": None,
        "expires_at": None,
    }
    expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    temporary = RefreshableCredentials.create_from_metadata(
        {"access_key": "AK2", "secret_key": "S2", "token": "T2", "expiry_time": expiry},
        refresh_using=lambda: {"access_key": "AK3", "secret_key": "S3", "token": "T3", "expiry_time": expiry},
        method="test",
    )
    given = BotocoreCredentials(temporary)()
    assert (given["access_key_id"], given["secret_access_key"], given.get("token")) == ("AK2", "S2", "T2")
    assert given["expires_at"] is not None and given["expires_at"] <= datetime.now(UTC) + timedelta(minutes=5)


def test_an_unchanged_republish_configured_by_the_environment_never_imports_botocore(
    published: tuple[PublishReport, list[tuple[Event, str]]], s3_server: SeaweedFS, built_catalog: Path
) -> None:
    # Static keys, an endpoint and no shared AWS files: obstore alone lists and reads the manifest.
    target = f"s3://{PUBLIC_BUCKET}/sample"
    last, imported = _python_m_publish(s3_server, built_catalog, target)
    assert last.startswith(f"{target}: 0 uploaded (0.0 KiB), ")
    assert "obstore" in imported and not {name for name in imported if name.startswith(("botocore", "boto3"))}


def test_a_boto3_session_publishes_the_same_objects_through_botocore_s_settings(
    published: tuple[PublishReport, list[tuple[Event, str]]], s3_server: SeaweedFS, built_catalog: Path
) -> None:
    session = boto3.session.Session(
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        region_name="us-east-1",
    )
    first = _publish(s3_server, built_catalog, "session", session=session)
    client = s3_server.client()
    assert len(first.uploaded) == len(published[0].uploaded)
    assert _listing(client, "session") == _listing(client, "sample")
    assert _publish(s3_server, built_catalog, "session", session=session).uploaded == ()


def test_keys_obstore_cannot_give_exactly_are_listed_and_deleted_as_stored(
    s3_server: SeaweedFS, tmp_path: Path
) -> None:
    # obstore lists a console's "folder/" object as "folder" and refuses a key with a tab.
    root = _write_collection(tmp_path / "cat", b"data")
    client = s3_server.client()
    _publish(s3_server, root, "odd")
    client.put_object(Bucket=PUBLIC_BUCKET, Key="odd/folder/", Body=b"")
    kept = _publish(s3_server, root, "odd")
    assert kept.uploaded == () and len(kept.plan.stale) == 1
    deleted = _publish(s3_server, root, "odd", delete=True)
    assert deleted.deleted == ("folder/",)
    client.put_object(Bucket=PUBLIC_BUCKET, Key="odd/notes\tx.txt", Body=b"x")
    listed = _publish(s3_server, root, "odd")
    assert listed.uploaded == () and listed.plan.stale == ("notes\tx.txt",)
    assert _publish(s3_server, root, "odd", delete=True).deleted == ("notes\tx.txt",)
    assert set(_listing(client, "odd")) == {"collection.json", "big.bin", MANIFEST_NAME}


@pytest.mark.parametrize(
    ("changes", "decided"),
    [
        ({}, True),
        ({"AWS_DEFAULT_REGION": "eu-central-1", "AWS_SESSION_TOKEN": "TOKEN"}, True),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2"}, True),
        ({"AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}, True),
        ({"AWS_CONFIG_FILE": "{home}/elsewhere/config"}, True),
        ({"AWS_PROFILE": "other"}, False),
        ({"AWS_SECRET_ACCESS_KEY": None}, False),
        ({"AWS_ENDPOINT_URL": None}, False),
        (
            {
                "AWS_ENDPOINT_URL": "https://127.0.0.1:3",
                "AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
            },
            True,
        ),
        ({"AWS_ENDPOINT_URL": "https://127.0.0.1:3", "REQUESTS_CA_BUNDLE": "{home}/bundle.pem"}, True),
        ({"AWS_CA_BUNDLE": "{home}/bundle.pem", "REQUESTS_CA_BUNDLE": "{home}/other.pem"}, True),
        ({"AWS_CA_BUNDLE": ""}, False),
        ({"shared file": "{home}/.aws/credentials"}, False),
        ({"shared file": "{home}/elsewhere/config", "AWS_CONFIG_FILE": "{home}/elsewhere/config"}, False),
    ],
)
def test_the_environment_decides_the_connection_only_where_botocore_would_decide_the_same(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, changes: dict[str, str | None], decided: bool
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in [name for name in os.environ if name.startswith("AWS_") or name == "REQUESTS_CA_BUNDLE"]:
        monkeypatch.delenv(name)
    environment = {
        "AWS_ACCESS_KEY_ID": "AKIDTEST",
        "AWS_SECRET_ACCESS_KEY": "SECRET",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in changes.items():
        value = value.format(home=tmp_path) if value else value
        if name == "shared file":
            assert value is not None
            Path(value).parent.mkdir(parents=True, exist_ok=True)
            Path(value).write_text("[default]\nregion = ap-south-1\n")
        else:
            environment[name] = value  # type: ignore[assignment]
    for name, value in environment.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    settings = environment_settings(None)
    assert (settings is not None) == decided
    if settings is None:
        return
    # Where the environment decides, botocore takes the same endpoint, region, keys and CA from it.
    client = s3_client(TransferSettings())
    credentials = cast("Any", client)._get_credentials().get_frozen_credentials()
    assert settings.endpoint == client.meta.endpoint_url
    assert settings.region == client.meta.region_name
    assert settings.verify == cast("Any", client)._endpoint.http_session._verify
    assert settings() == {
        "access_key_id": credentials.access_key,
        "secret_access_key": credentials.secret_key,
        "token": credentials.token,
        "expires_at": None,
    }
