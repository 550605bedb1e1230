"""Reliability suite: `KOFU_RELIABILITY=full` (make reliability) selects the full sizes, else the reduced
sizes that `make test` runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.reliability.deployment import Deployment

N = TypeVar("N", int, float)

FULL = os.environ.get("KOFU_RELIABILITY", "reduced") == "full"


def size(reduced: N, full: N) -> N:
    return full if FULL else reduced


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment.start(tmp_path_factory.mktemp("home"))
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path
