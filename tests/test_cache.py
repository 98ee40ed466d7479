"""The user cache: an entry two builds need at once is made by one of them, used by both."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pytest

from stactools_glofnet.build import cached_sample
from stactools_glofnet.core.cache import entry_held
from stactools_glofnet.core.config import CatalogContent


def test_a_build_waits_for_the_sample_another_is_generating_and_uses_it(
    small_sample: Path,
    content: CatalogContent,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("GLOFNET_CACHE_DIR", str(cache))
    entry = cache / small_sample.name  # the same code and content: the same key
    found: list[Path] = []
    waiting = threading.Thread(target=lambda: found.append(cached_sample(content)), daemon=True)
    with caplog.at_level(logging.INFO, logger="stactools_glofnet"):
        with entry_held(entry):  # another build, generating the sample
            waiting.start()
            waiting.join(1.0)
            assert waiting.is_alive() and "generating" not in caplog.text  # it waits
            shutil.copytree(small_sample, entry, copy_function=os.link)  # what the other build made
        waiting.join(120)
    assert found == [entry]
    assert "generating" not in caplog.text  # the second build used the first one's sample
