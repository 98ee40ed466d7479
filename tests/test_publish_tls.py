"""publish to an https endpoint whose certificate a private CA signed (SeaweedFS on 127.0.0.1 with
TLS): the CA bundle botocore is told of is trusted by every request, whichever library makes it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import dumps_json
from stactools_glofnet.publish import MANIFEST_NAME, TransferSettings, publish_catalog
from stactools_glofnet.publish.store import tls_options
from tests.s3server import Certificates, SeaweedFS, make_certificates, running_seaweedfs

BUCKET = "glofnet-tls"
MIB = 1 << 20
SMALL_PARTS = TransferSettings(multipart_threshold=5 * MIB, part_size=5 * MIB)
"""A 6 MiB asset goes in two parts: botocore's requests, beside obstore's listing and small puts."""


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, certificates: Certificates) -> Iterator[SeaweedFS]:
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs-tls"), BUCKET, certificates) as server:
        yield server


@pytest.fixture
def environment(tls_server: SeaweedFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Only the server's keys in the AWS environment (no CA named yet, no shared files)."""
    for name in [name for name in os.environ if name.startswith("AWS_") or name == "REQUESTS_CA_BUNDLE"]:
        monkeypatch.delenv(name)
    settings = {
        "AWS_ACCESS_KEY_ID": tls_server.access_key,
        "AWS_SECRET_ACCESS_KEY": tls_server.secret_key,
        "AWS_CONFIG_FILE": str(tmp_path / "absent"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "absent"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


def _collection(directory: Path) -> Path:
    """A collection with a 6 MiB asset (uploaded in parts) and a small one."""
    directory.mkdir()
    (directory / "big.bin").write_bytes(bytes(range(256)) * (6 * MIB // 256))
    (directory / "small.json").write_text('{"small": true}\n')
    collection = {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": "tls",
        "description": "Two assets",
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": {"bbox": [[74.4, 36.3, 74.6, 36.5]]},
            "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]},
        },
        "links": [{"href": "./collection.json", "rel": "root", "type": "application/json"}],
        "assets": {
            "big": {"href": "./big.bin", "type": "application/x-test"},
            "small": {"href": "./small.json", "type": "application/json"},
        },
    }
    (directory / "collection.json").write_text(dumps_json(collection))
    return directory / "collection.json"


@pytest.mark.parametrize("named_by", ["AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "profile ca_bundle"])
def test_the_ca_bundle_botocore_is_given_is_trusted_by_every_request(
    tls_server: SeaweedFS,
    certificates: Certificates,
    environment: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    named_by: str,
) -> None:
    if named_by == "profile ca_bundle":  # a shared config file: botocore's settings, then obstore's
        config = tmp_path / "config"
        config.write_text(f"[default]\nca_bundle = {certificates.ca}\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    else:  # the environment alone: obstore lists, botocore only for the parts
        monkeypatch.setenv(named_by, str(certificates.ca))
    catalog = _collection(tmp_path / "catalog")
    prefix = named_by.split()[0].lower()
    target = f"s3://{BUCKET}/{prefix}"
    first = publish_catalog(catalog, target, endpoint_url=tls_server.https_endpoint, settings=SMALL_PARTS)
    assert set(first.uploaded) == {"big.bin", "collection.json", "small.json", MANIFEST_NAME}
    listed = tls_server.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")
    keys = {entry["Key"].removeprefix(f"{prefix}/"): entry for entry in listed.get("Contents", [])}
    assert set(keys) == {"big.bin", "collection.json", "small.json", MANIFEST_NAME}
    assert keys["big.bin"]["ETag"].strip('"').endswith("-2")  # the parts went through botocore
    again = publish_catalog(catalog, target, endpoint_url=tls_server.https_endpoint, settings=SMALL_PARTS)
    assert again.uploaded == () and again.refreshed == ()


def test_an_untrusted_certificate_is_one_line_that_says_so_and_nothing_is_written(
    tls_server: SeaweedFS, environment: dict[str, str], tmp_path: Path
) -> None:
    catalog = _collection(tmp_path / "catalog")
    target = f"s3://{BUCKET}/untrusted"
    command = [sys.executable, "-m", "stactools_glofnet", "publish", str(catalog), target]
    result = subprocess.run(
        [*command, "--endpoint-url", tls_server.https_endpoint], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"Error: {target}: ListObjectsV2 failed" in result.stderr
    assert "TLS certificate is refused: UnknownIssuer" in result.stderr
    assert "AWS_CA_BUNDLE" in result.stderr
    assert "127.0.0.1" not in result.stderr
    assert tls_server.client().list_objects_v2(Bucket=BUCKET, Prefix="untrusted/").get("KeyCount") == 0


def test_a_ca_bundle_that_cannot_be_used_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(GlofnetError, match=r"missing\.pem: the CA bundle cannot be read \(No such file"):
        tls_options(str(missing))
    not_pem = tmp_path / "bundle.pem"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(GlofnetError, match=r"bundle\.pem: the CA bundle holds no PEM certificate"):
        tls_options(str(not_pem))
    assert tls_options(False) == {"allow_invalid_certificates": True}
    assert tls_options(True) == {}
