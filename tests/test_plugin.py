"""The ``glofnet`` group is registered with the stactools ``stac`` CLI, and ships whole in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from click.testing import CliRunner
from stactools.cli.cli import cli

from tests.conftest import REPO

COMMANDS = ["create-catalog", "create-collection", "create-item", "sample", "validate"]


def test_help_lists_commands_via_click_runner() -> None:
    result = CliRunner().invoke(cli, ["glofnet", "--help"])
    assert result.exit_code == 0, result.output
    for command in COMMANDS:
        assert command in result.output


def test_help_lists_commands_via_stac_subprocess() -> None:
    stac = Path(sys.executable).parent / "stac"
    result = subprocess.run([str(stac), "glofnet", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert command in result.stdout


def test_every_command_has_help_with_an_example() -> None:
    for command in COMMANDS:
        result = CliRunner().invoke(cli, ["glofnet", command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Example: stac glofnet " + command in result.output


def test_namespace_shim_without_namespace_init() -> None:
    assert (REPO / "stactools" / "glofnet" / "__init__.py").is_file()
    assert not (REPO / "stactools" / "__init__.py").exists()


def test_wheel_carries_catalog_content_and_works_outside_the_repository(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("stactools_glofnet-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "stactools/glofnet/__init__.py" in names
        assert "stactools/__init__.py" not in names
        for source in sorted((REPO / "catalog").glob("*.toml")):
            assert f"stactools_glofnet/catalog_content/{source.name}" in names
        archive.extractall(tmp_path / "site")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "from stactools_glofnet.core.config import bundled_content_dir, load_content;"
        "print(bundled_content_dir()); print(len(load_content().events.event))"
    )
    ran = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {probe}"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    directory, count = ran.stdout.split()
    assert directory.startswith(str(tmp_path / "site"))
    assert int(count) == len((REPO / "catalog" / "events.toml").read_text().split("[[event]]")) - 1


def test_cli_modalities_are_the_builds_and_start_up_stays_light() -> None:
    import subprocess
    import sys
    from typing import get_args

    from stactools_glofnet import build
    from stactools_glofnet.core.config import Modality

    assert set(build.MODALITIES) == set(get_args(Modality))
    probe = (
        "import sys, stactools_glofnet.commands; "
        "print(sorted(m for m in ('scipy', 'dask', 'rio_cogeo') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
