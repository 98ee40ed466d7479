"""The suite's own scheduling: pytest-xdist keeps the groups ``conftest.py`` gives the tests."""

from __future__ import annotations

import pytest


def test_the_test_processes_keep_a_module_s_tests_together(request: pytest.FixtureRequest) -> None:
    """Under ``--dist loadgroup`` pytest-xdist sends a group to one process by the ``@group``
    suffix it adds to each node id. Where pytest and pytest-xdist disagree on how a node id is
    stored (pytest 9.2 with pytest-xdist 3.8) the suffix is lost without a word, every test is
    scheduled alone, and each process builds every session and module fixture for itself."""
    if not request.config.getoption("loadgroup", default=False):
        pytest.skip("not run by pytest-xdist with --dist loadgroup (e.g. -n0)")
    assert request.node.nodeid.endswith("@tests/test_grouping.py")
