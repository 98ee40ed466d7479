"""Where outputs land: refusals, the lock, atomic replacement under kill -9, stale staging, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from stactools.cli.cli import cli

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.output import (
    LOCK_PREFIX,
    MARKER,
    STAGING_PREFIX,
    _lock,
    input_files,
    input_paths,
    output_kind,
    replacing,
)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith((STAGING_PREFIX, LOCK_PREFIX)))


def _write(dest: Path, text: str, kind: str = "collection") -> None:
    with replacing(dest, kind=kind) as staging:
        (staging / "content.txt").write_text(text)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["glofnet", *args])
    return result.exit_code, result.output


def _one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


# ------------------------------------------------------------------ replacing() on its own


def test_replacing_writes_the_marker_and_leaves_nothing_beside(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    _write(dest, "first")
    assert (dest / "content.txt").read_text() == "first"
    assert output_kind(dest) == "collection"
    _write(dest, "second")  # its own earlier output is replaced without --overwrite
    assert (dest / "content.txt").read_text() == "second"
    assert _leftovers(tmp_path) == []


def test_a_failed_block_leaves_dest_exactly_as_it_was(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    _write(dest, "kept")
    before = _tree(dest)
    with pytest.raises(RuntimeError), replacing(dest, kind="collection") as staging:
        (staging / "content.txt").write_text("half")
        raise RuntimeError("build failed")
    assert _tree(dest) == before
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["file", "foreign", "other-kind"])
def test_what_is_not_ours_is_refused_and_kept_unless_overwrite(tmp_path: Path, kind: str) -> None:
    dest = tmp_path / "precious"
    if kind == "file":
        dest.write_text("a file")
    elif kind == "foreign":
        dest.mkdir()
        (dest / "thesis.tex").write_text("keep me")
    else:
        _write(dest, "a sample", kind="sample")
    before = _tree(dest) if dest.is_dir() else {"": dest.read_bytes()}
    with pytest.raises(GlofnetError, match="pass --overwrite"):
        _write(dest, "new")
    assert (_tree(dest) if dest.is_dir() else {"": dest.read_bytes()}) == before
    with replacing(dest, kind="collection", overwrite=True) as staging:
        (staging / "content.txt").write_text("new")
    assert (dest / "content.txt").read_text() == "new"


def test_source_and_the_current_directory_are_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "data" / "source"
    source.mkdir(parents=True)
    (source / "input.txt").write_text("input")
    for dest, reason in ((source, "DEST is SOURCE"), (tmp_path / "data", "DEST contains SOURCE")):
        for overwrite in (False, True):
            with (
                pytest.raises(GlofnetError, match=reason),
                replacing(dest, kind="catalog", inputs=[source], overwrite=overwrite),
            ):
                pass
    monkeypatch.chdir(tmp_path / "data")
    with (
        pytest.raises(GlofnetError, match="current directory"),
        replacing(Path("."), kind="catalog", overwrite=True),
    ):
        pass
    assert (source / "input.txt").read_text() == "input"


def test_outputs_inside_a_source_are_not_read_as_inputs(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "a").mkdir(parents=True)
    (source / "a" / "a.json").write_text("{}")
    _write(source / "built", "output")
    (source / "built" / "b").mkdir()
    (source / "built" / "b" / "b.json").write_text("{}")
    (source / f"{STAGING_PREFIX}x").mkdir()
    (source / f"{STAGING_PREFIX}x" / "c.json").write_text("{}")
    assert [p.relative_to(source).as_posix() for p in input_paths(source, "**/*.json")] == ["a/a.json"]


def test_input_files_are_found_in_sorted_path_order_without_entering_outputs(tmp_path: Path) -> None:
    """The order of sorted Path objects (a folder's files where its name sorts among its neighbours'),
    hidden files kept, symbolic links to files followed and to folders not, nothing from inside
    an output or a staging directory, and no files from a folder that is not there."""
    source = tmp_path / "source"
    for relative in ("a/b.hdf", "a.x", "a-b/c", "A", ".h/x", "z/y/w.tif", f"{STAGING_PREFIX}x/k"):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text("input")
    _write(source / "built", "output")
    (source / "built" / "inside.tif").write_text("output")
    (source / "to-folder").symlink_to(source / "a")
    (source / "to-file").symlink_to(source / "a.x")
    (source / "dangling").symlink_to(source / "nothing")
    found = list(input_files(source))
    assert all(isinstance(path, str) for path in found)
    assert found == [str(path) for path in sorted(map(Path, found))]
    names = [Path(path).relative_to(source).as_posix() for path in found]
    assert names == [".h/x", "A", "a/b.hdf", "a-b/c", "a.x", "to-file", "z/y/w.tif"]
    assert list(input_files(tmp_path / "nothing")) == []


def test_a_second_writer_is_refused_in_one_line(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with _lock(dest.absolute()):
        with pytest.raises(GlofnetError, match=rf"another stactools-glofnet run \(process {os.getpid()}\)"):
            _write(dest, "second")
        assert not dest.exists()
    _write(dest, "after")  # the lock is released with its holder
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------ kill -9 and SIGTERM, real processes

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import stactools_glofnet.core.output as output

    step, dest, text = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    original_install, original_rename = output._install, os.rename
    if step == "before-swap":
        output._install = lambda *a: die()
    elif step == "after-swap":
        def install(*args):
            original_install(*args)
            die()
        output._install = install
    elif step == "between-renames":
        output._exchange = lambda *a: False
        calls = []
        def rename(a, b):
            calls.append(a)
            original_rename(a, b)
            if len(calls) == 1:
                die()
        output.os.rename = rename
    elif step == "sigterm":
        def install(*args):
            os.kill(os.getpid(), signal.SIGTERM)
            original_install(*args)
        output._install = install
    elif step == "hold":
        with output._lock(dest.absolute()):
            print("holding", flush=True)
            sys.stdin.read()
        sys.exit(0)
    with output.replacing(dest, kind="collection") as staging:
        (staging / "content.txt").write_text(text)
        if step == "sigterm-during-build":
            os.kill(os.getpid(), signal.SIGTERM)
    """
)


def _run_killer(tmp_path: Path, step: str, dest: Path, text: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    return subprocess.run(
        [sys.executable, str(script), step, str(dest), text], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("step", ["before-swap", "after-swap", "between-renames"])
def test_kill_9_at_any_step_leaves_the_old_or_new_output_and_the_next_run_cleans_up(
    tmp_path: Path, step: str
) -> None:
    dest = tmp_path / "out"
    _write(dest, "old")
    killed = _run_killer(tmp_path, step, dest, "new")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if step == "between-renames":
        # No atomic exchange here: DEST is briefly absent and the old copy waits in staging ...
        assert not dest.exists()
    else:
        assert (dest / "content.txt").read_text() == ("new" if step == "after-swap" else "old")
    assert _leftovers(tmp_path)  # the killed run's staging directory (and lock file) remain
    _write(dest, "next")  # ... until the next run, which restores or removes what was left
    assert (dest / "content.txt").read_text() == "next"
    assert _leftovers(tmp_path) == []
    if step == "between-renames":
        assert "restored" not in killed.stderr  # the restore happened in the next run, not this one


def test_the_next_run_restores_dest_taken_away_by_a_killed_run(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    _write(dest, "old")
    assert _run_killer(tmp_path, "between-renames", dest, "new").returncode == -signal.SIGKILL
    with pytest.raises(RuntimeError), replacing(dest, kind="collection"):
        assert (dest / "content.txt").read_text() == "old"  # restored before the build starts
        raise RuntimeError("this build fails too")
    assert (dest / "content.txt").read_text() == "old"


@pytest.mark.parametrize("step", ["sigterm", "sigterm-during-build"])
def test_sigterm_removes_staging_and_keeps_dest(tmp_path: Path, step: str) -> None:
    dest = tmp_path / "out"
    _write(dest, "old")
    result = _run_killer(tmp_path, step, dest, "new")
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    if step == "sigterm":
        # SIGTERM arrives while the swap is under way: it is held back until the swap is done.
        assert (dest / "content.txt").read_text() == "new"
    else:
        assert (dest / "content.txt").read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_two_concurrent_runs_one_wins_the_other_says_so(tmp_path: Path, events_source: Path) -> None:
    dest = tmp_path / "out"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    with subprocess.Popen(
        [sys.executable, str(script), "hold", str(dest), ""],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "holding"
            code, output = _invoke("create-collection", "events", str(events_source), str(dest))
            line = _one_line_error(output)
            assert code == 1 and f"process {holder.pid}" in line and "is writing it" in line
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
    assert not dest.exists()
    code, output = _invoke("create-collection", "events", str(events_source), str(dest))
    assert code == 0, output  # the winner is gone: the next run goes ahead


# ------------------------------------------------------------------ the commands


@pytest.fixture
def events_source(tmp_path: Path) -> Path:
    """A SOURCE with nothing in it but an (empty) modality folder: the events need no input."""
    source = tmp_path / "source"
    (source / "sentinel2").mkdir(parents=True)
    return source


def test_create_collection_refuses_dest_source_and_its_parent(events_source: Path) -> None:
    for dest in (events_source, events_source.parent):
        for extra in ([], ["--overwrite"]):
            code, output = _invoke("create-collection", "events", str(events_source), str(dest), *extra)
            assert code == 1 and "SOURCE" in _one_line_error(output)
    assert (events_source / "sentinel2").is_dir()


def test_create_collection_into_an_unrelated_folder_needs_overwrite(
    events_source: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "notes"
    dest.mkdir()
    (dest / "todo.txt").write_text("keep")
    code, output = _invoke("create-collection", "events", str(events_source), str(dest))
    assert code == 1 and "--overwrite" in _one_line_error(output)
    assert (dest / "todo.txt").read_text() == "keep"
    code, output = _invoke("create-collection", "events", str(events_source), str(dest), "--overwrite")
    assert code == 0, output
    assert not (dest / "todo.txt").exists() and (dest / "collection.json").is_file()


def test_dest_inside_source_builds_twice_the_same(events_source: Path) -> None:
    dest = events_source / "sentinel2" / "built"
    for _ in range(2):
        code, output = _invoke("create-collection", "events", str(events_source), str(dest))
        assert code == 0, output
    first = _tree(dest)
    code, output = _invoke("create-collection", "events", str(events_source), str(dest))
    assert code == 0, output
    assert _tree(dest) == first


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["sample", "{tmp}/s", "--seed", "-1"], "-1"),
        (["create-catalog", "{tmp}/c", "--workers", "100000"], "100000"),
        (["publish", "{tmp}", "s3://bucket/prefix", "--endpoint-url", "not a url"], "not an endpoint URL"),
        (["create-collection", "events", "{source}", "{tmp}/" + "n" * 300], "File name too long"),
        (["create-collection", "events", "{source}", "{tmp}/file/dest"], "file: cannot write there"),
        (["create-collection", "events", "{source}", "/sys/glofnet-test/dest"], "cannot write there"),
    ],
)
def test_bad_arguments_give_one_line(
    events_source: Path, tmp_path: Path, args: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    (tmp_path / "file").write_text("a file")
    filled = [a.format(tmp=tmp_path, source=events_source) for a in args]
    code, output = _invoke(*filled)
    assert code in (1, 2)
    line = _one_line_error(output) if code == 1 else output.strip().splitlines()[-1]
    assert expected in line, output
    assert "Traceback" not in output


def test_a_non_utf8_content_file_is_one_line(
    events_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import REPO

    content = tmp_path / "content"
    content.mkdir()
    for path in (REPO / "catalog").glob("*.toml"):
        (content / path.name).write_bytes(path.read_bytes())
    (content / "dataset.toml").write_bytes((content / "dataset.toml").read_bytes() + b"\n# \xff\xfe\n")
    monkeypatch.setenv("GLOFNET_CONTENT_DIR", str(content))
    code, output = _invoke("create-collection", "events", str(events_source), str(tmp_path / "out"))
    assert code == 1 and "dataset.toml: not UTF-8" in _one_line_error(output)


def test_the_marker_says_what_wrote_it(tmp_path: Path) -> None:
    _write(tmp_path / "out", "x", kind="catalog")
    marker = json.loads((tmp_path / "out" / MARKER).read_text())
    assert marker["kind"] == "catalog" and marker["software"] == "stactools-glofnet"


def test_stale_staging_of_another_dest_is_left_alone(tmp_path: Path) -> None:
    other = tmp_path / f"{STAGING_PREFIX}000000000000-abc"
    other.mkdir()
    _write(tmp_path / "out", "x")
    assert other.is_dir()
