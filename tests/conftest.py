"""Every test's runs are journaled under a temporary directory, never under the user's home."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _runs_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = os.environ.get("ORCHESTRATE_RUNS")
    os.environ["ORCHESTRATE_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    yield
    if previous is None:
        del os.environ["ORCHESTRATE_RUNS"]
    else:
        os.environ["ORCHESTRATE_RUNS"] = previous
