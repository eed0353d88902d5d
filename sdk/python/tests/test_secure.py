"""The SDK against a secure cluster: nodes with ``--tls-dir`` (certificates from
``clusterctl certs``), an ACL bootstrapped with ``clusterctl acl bootstrap``, and
tokens with roles. A client and a worker speak TLS with their tokens; the
refusals arrive as the SDK's ``AuthenticationError`` and ``PermissionDeniedError``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import _binaries

import schedulerd
from cluster import Cluster, wait_for


class SecureCluster(Cluster):
    """Three nodes, each with its own certificate directory; clients trust the CA."""

    def __init__(self, sbin: str, cbin: str, root: Path) -> None:
        super().__init__(sbin, cbin, root, [])
        self.ca_pem = root / "ca" / "ca.pem"
        self.creds: grpc.ChannelCredentials | None = None

    def certs(self, n: int) -> None:
        assert self.ctl is not None
        subprocess.run([self.ctl, "certs", "ca", "--out", str(self.root / "ca")], check=True)
        for i in range(1, n + 1):
            subprocess.run(
                [
                    self.ctl,
                    "certs",
                    "node",
                    "--id",
                    str(i),
                    "--host",
                    "127.0.0.1",
                    "--host",
                    "localhost",
                    "--ca-dir",
                    str(self.root / "ca"),
                    "--out",
                    str(self.root / f"tls-{i}"),
                ],
                check=True,
                capture_output=True,
            )
        self.creds = grpc.ssl_channel_credentials(root_certificates=self.ca_pem.read_bytes())

    def start_node(self, node_id: int, join: str | None) -> Any:
        self.extra_args = ["--tls-dir", str(self.root / f"tls-{node_id}")]
        return super().start_node(node_id, join)

    def client(self, addrs: list[str] | None = None, **kw: Any) -> schedulerd.Client:
        kw.setdefault("credentials", self.creds)
        return super().client(addrs, **kw)

    def ctl_json(self, *args: str, token: str | None = None) -> Any:
        assert self.ctl is not None
        cmd = [self.ctl, "--cluster", self.address, "--tls-ca", str(self.ca_pem), "-o", "json"]
        if token:
            cmd += ["--token", token]
        p = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"clusterctl {' '.join(args)} failed: {p.stderr}"
        return json.loads(p.stdout)


@pytest.fixture
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    sbin, cbin = _binaries()
    if not cbin:
        if os.environ.get("CI"):
            pytest.fail("CLUSTERCTL_BIN is not set")
        pytest.skip("CLUSTERCTL_BIN is not set")
    c = SecureCluster(sbin, cbin, tmp_path_factory.mktemp("secure"))
    try:
        c.certs(3)
        c.start(3)
        yield c
    finally:
        c.stop()


def test_a_secure_cluster_runs_a_workers_function_with_tokens(secure: SecureCluster) -> None:
    # Status is open (probes); jobs need a token under TLS from the start.
    with secure.client() as anon:
        assert anon.status().leader is not None
        with pytest.raises(schedulerd.AuthenticationError) as no_token:
            anon.get_jobs()
        assert "needs a token" in str(no_token.value)

    admin = secure.ctl_json("acl", "bootstrap")["secret"]
    writer = secure.ctl_json("token", "create", "ci", "--role", "writer", token=admin)["secret"]
    reader = secure.ctl_json("token", "create", "ro", "--role", "reader", token=admin)["secret"]
    worker_token = secure.ctl_json(
        "token", "create", "w1", "--role", "worker", "--queue", "secure", token=admin
    )["secret"]

    with secure.client(token=reader) as ro:
        with pytest.raises(schedulerd.PermissionDeniedError):
            ro.add_job("denied", "secure:hello", "interval", seconds=1)
        assert ro.get_jobs() == []

    ran: list[int] = []
    worker = schedulerd.Worker(
        secure.address,
        queues=["secure"],
        token=worker_token,
        credentials=secure.creds,
        max_concurrency=2,
    )

    @worker.function("hello")
    def hello(ctx: schedulerd.JobContext) -> None:
        ran.append(ctx.fencing_token)

    t = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
    t.start()
    try:
        with secure.client(token=writer) as w:
            w.add_job("secure-job", "secure:hello", "interval", seconds=1, misfire_grace_time=30)
            job = w.get_job("secure-job")
            assert (job.created_by, job.updated_by) == ("ci", "ci")
            wait_for(lambda: len(ran) >= 3, 60, "three runs of the function over TLS")
            assert ran == sorted(ran), f"tokens not rising: {ran}"
    finally:
        worker.stop()
        t.join(timeout=40)

    # A worker token for another queue may not serve this one.
    stray = schedulerd.Worker(
        secure.address, queues=["other"], token=worker_token, credentials=secure.creds
    )

    @stray.function("hello")
    def never(ctx: schedulerd.JobContext) -> None:  # pragma: no cover - refused
        raise AssertionError("a refused worker ran a function")

    started = time.monotonic()
    with pytest.raises(schedulerd.SchedulerError) as refused:
        stray.run(install_signal_handlers=False)
    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED, refused.value
    assert time.monotonic() - started < 30
