"""``acquire sentinel2 s3://BUCKET/PREFIX``: the providers of tests/test_acquire.py, SOURCE on SeaweedFS.

What is fetched goes into the local mirror and then to the bucket; a second machine (an empty
cache) finds the scenes complete from the bucket alone and fetches nothing from the providers;
``create-catalog`` builds from the same ``s3://`` SOURCE.
"""

from __future__ import annotations

from pathlib import Path

import pystac
from click.testing import CliRunner, Result
from stactools.cli.cli import cli

from stactools_glofnet.mirror.location import mirror_location
from stactools_glofnet.publish import parse_target
from tests.s3server import SeaweedFS
from tests.s3server import s3_server as s3_server
from tests.test_acquire import END, START, Providers
from tests.test_acquire import providers as providers
from tests.test_mirror import aws_env

BUCKET = "glofnet-acquired"


def run(server: SeaweedFS, providers: Providers, *args: str, **env: str) -> Result:
    environment = {**aws_env(server, **env), **providers.env()}
    result = CliRunner(env=environment).invoke(cli, ["glofnet", *args])
    print(result.output)
    return result


def test_acquire_writes_to_the_bucket_and_the_build_reads_from_it(
    providers: Providers, s3_server: SeaweedFS, tmp_path: Path
) -> None:
    s3_server.client().create_bucket(Bucket=BUCKET)
    url = f"s3://{BUCKET}/source"
    acquire = ("acquire", "sentinel2", url, "--endpoint-url", s3_server.endpoint, "--api")
    dates = ("--start", START, "--end", END)
    providers.server.reset()
    first = run(s3_server, providers, *acquire, providers.earth_search, *dates)
    assert first.exit_code == 0
    second = run(s3_server, providers, *acquire, providers.planetary_computer, *dates)
    assert second.exit_code == 0
    assert sum(providers.server.sent.values()) > 0

    tree = mirror_location(parse_target(url), s3_server.endpoint).tree
    local = {
        p.relative_to(tree).as_posix(): p
        for p in tree.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    scenes = sorted([*providers.clear, providers.pc])
    assert {key.split("/")[1] for key in local if key.count("/") == 2} == set(scenes)
    client = s3_server.client()
    listed = {
        o["Key"].removeprefix("source/"): o["Size"]
        for o in client.list_objects_v2(Bucket=BUCKET, Prefix="source/").get("Contents", [])
    }
    assert set(listed) == set(local)
    for key, path in local.items():
        assert client.get_object(Bucket=BUCKET, Key=f"source/{key}")["Body"].read() == path.read_bytes(), key
    # The first run uploads its 2 scenes (8 files each) and the manifest; the second its one scene
    # and the manifest again: files already in the bucket are not sent twice.
    assert f"{url}: 17 uploaded" in first.output and ", 0 unchanged" in first.output
    assert f"{url}: 9 uploaded" in second.output and "16 unchanged" in second.output
    assert len(local) == 3 * 8 + 1

    # Another machine: an empty cache. The bucket alone says every scene is complete.
    providers.server.reset()
    elsewhere = str(tmp_path / "other-cache")
    again = run(
        s3_server,
        providers,
        *acquire,
        providers.earth_search,
        *dates,
        "--since-last",
        GLOFNET_CACHE_DIR=elsewhere,
    )
    assert again.exit_code == 0
    assert dict(providers.server.sent) == {}
    assert f"{len(local)} downloaded" in again.output
    assert f"{url}: 0 uploaded (0.0 KiB), {len(local)} unchanged" in again.output

    dest = tmp_path / "catalog"
    built = run(s3_server, providers, "create-catalog", url, str(dest), "--endpoint-url", s3_server.endpoint)
    assert built.exit_code == 0
    assert f"{dest}: catalog with glofnet-sentinel2, glofnet-events from {url}" in built.output
    collection = pystac.Collection.from_file(str(dest / "glofnet-sentinel2" / "collection.json"))
    assert sorted(item.id for item in collection.get_items(recursive=True)) == scenes
