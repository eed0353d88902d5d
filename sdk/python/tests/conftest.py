"""Fixtures: real schedulerd clusters (SCHEDULERD_BIN, CLUSTERCTL_BIN).

Without SCHEDULERD_BIN the cluster tests fail under CI (CI set) and are
skipped otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import Cluster


def _binaries() -> tuple[str, str | None]:
    sbin = os.environ.get("SCHEDULERD_BIN")
    cbin = os.environ.get("CLUSTERCTL_BIN")
    if not sbin:
        msg = "SCHEDULERD_BIN is not set: the cluster tests need a schedulerd binary"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    if not os.access(sbin, os.X_OK):
        pytest.fail(f"SCHEDULERD_BIN={sbin} is not an executable file")
    if cbin and not os.access(cbin, os.X_OK):
        pytest.fail(f"CLUSTERCTL_BIN={cbin} is not an executable file")
    return sbin, cbin


def _extra_args() -> list[str]:
    return os.environ.get("SCHEDULERD_EXTRA_ARGS", "").split()


def make_cluster(tmp: Path, n: int = 3) -> Iterator[Cluster]:
    sbin, cbin = _binaries()
    c = Cluster(sbin, cbin, tmp, _extra_args())
    try:
        c.start(n)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One 3-node cluster shared by the tests that do not hurt it."""
    yield from make_cluster(tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def fresh_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A 3-node cluster of one's own (for tests that kill or pause nodes)."""
    yield from make_cluster(tmp_path_factory.mktemp("fresh"))


@pytest.fixture
def clusterctl_bin() -> str:
    _, cbin = _binaries()
    if not cbin:
        if os.environ.get("CI"):
            pytest.fail("CLUSTERCTL_BIN is not set")
        pytest.skip("CLUSTERCTL_BIN is not set")
    return cbin


@pytest.fixture
def job_id(request: pytest.FixtureRequest) -> str:
    """A job id unique to the test."""
    name = request.node.name.replace("[", "-").replace("]", "")[:60]
    return f"{name}-{uuid.uuid4().hex[:6]}"
