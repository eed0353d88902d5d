"""Real schedulerd processes for the tests: a cluster on ephemeral loopback ports.

Every process started here is killed by :meth:`Cluster.stop` (the fixtures
call it on teardown, also on failure). Waiting is always polling with a
deadline that says what it awaited.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import schedulerd

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], T], timeout: float, what: str, every: float = 0.1) -> T:
    """Polls ``cond`` until it returns a truthy value; fails after ``timeout`` naming ``what``."""
    deadline = time.monotonic() + timeout
    last_err: BaseException | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as e:  # keep polling; report the last error
            last_err = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_err!r})" if last_err else ""
            raise TimeoutError(f"waited {timeout:.0f} s for {what}{extra}")
        time.sleep(every)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Node:
    id: int
    addr: str
    data_dir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    args: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """A cluster of ``n`` nodes: node 1 bootstraps, the others join it."""

    def __init__(
        self, schedulerd_bin: str, clusterctl_bin: str | None, root: Path, extra_args: list[str]
    ) -> None:
        self.bin = schedulerd_bin
        self.ctl = clusterctl_bin
        self.root = root
        self.extra_args = extra_args
        self.nodes: dict[int, Node] = {}
        self.procs: list[subprocess.Popen[bytes]] = []  # also workers and examples

    # ------------------------------------------------------------ processes

    def spawn(
        self, args: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Starts a process that :meth:`stop` will kill."""
        out = open(log, "ab")  # noqa: SIM115 - closed with the process
        try:
            p = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            out.close()
        self.procs.append(p)
        return p

    def start_node(self, node_id: int, join: str | None) -> Node:
        node = self.nodes.get(node_id)
        if node is None:
            d = self.root / f"n{node_id}"
            d.mkdir(parents=True, exist_ok=True)
            node = Node(node_id, f"127.0.0.1:{free_port()}", d, self.root / f"n{node_id}.log")
            self.nodes[node_id] = node
        args = [
            self.bin,
            "--id",
            str(node_id),
            "--data-dir",
            str(node.data_dir),
            "--listen",
            node.addr,
            *self.extra_args,
        ]
        if join is None:
            args.append("--bootstrap")
        else:
            args += ["--join", join]
        node.args = args
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        node.proc = self.spawn(args, node.log, env)
        return node

    def restart_node(self, node_id: int) -> None:
        node = self.nodes[node_id]
        assert not node.alive()
        env = dict(os.environ)
        node.proc = self.spawn(node.args, node.log, env)

    def start(self, n: int = 3, timeout: float = 60.0) -> Cluster:
        first = self.start_node(1, None)
        self.wait_ready(1, timeout)
        for i in range(2, n + 1):
            self.start_node(i, first.addr)
        self.wait_ready(n, timeout)
        return self

    def kill_node(self, node_id: int, sig: int = signal.SIGKILL) -> None:
        node = self.nodes[node_id]
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(sig)
            if sig == signal.SIGKILL:
                node.proc.wait(timeout=10)

    def stop(self) -> None:
        """Kills every process this cluster started (nodes, workers, examples)."""
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)  # a stopped process must see its SIGKILL
                    p.kill()
                except ProcessLookupError:
                    pass
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)

    # ------------------------------------------------------------ state

    @property
    def addrs(self) -> list[str]:
        return [n.addr for n in self.nodes.values()]

    @property
    def address(self) -> str:
        return ",".join(self.addrs)

    def client(self, addrs: list[str] | None = None, **kw: Any) -> schedulerd.Client:
        return schedulerd.Client(addrs or [n.addr for n in self.nodes.values() if n.alive()], **kw)

    def _check_alive(self) -> None:
        for n in self.nodes.values():
            if (
                n.proc is not None
                and n.proc.poll() is not None
                and not getattr(n, "expected_dead", False)
            ):
                raise AssertionError(
                    f"node {n.id} exited with {n.proc.returncode}; log tail:\n{tail(n.log)}"
                )

    def wait_ready(self, voters: int, timeout: float = 60.0) -> schedulerd.ClusterStatus:
        c = self.client(retry_window=2.0, timeout=2.0)

        def ready() -> schedulerd.ClusterStatus | None:
            self._check_alive()
            st = c.status()
            n_voters = sum(1 for m in st.members if m.voter)
            done = st.leader is not None and not st.membership_changing
            return st if done and n_voters >= voters else None

        try:
            return wait_for(
                ready,
                timeout,
                f"a leader, {voters} voter members and no membership change in flight",
            )
        except TimeoutError as e:
            logs = "\n".join(f"--- node {n.id}:\n{tail(n.log, 15)}" for n in self.nodes.values())
            raise TimeoutError(f"{e}\n{logs}") from None
        finally:
            c.close()

    def leader_id(self) -> int:
        with self.client(retry_window=5.0) as c:
            st = wait_for(lambda: (s := c.status()).leader is not None and s, 30, "a leader")
            assert st and st.leader is not None
            return st.leader

    def clusterctl(self, *args: str, check: bool = True) -> Any:
        """Runs clusterctl with --cluster and -o json; returns the parsed JSON."""
        if self.ctl is None:
            raise RuntimeError("CLUSTERCTL_BIN is not set")
        p = subprocess.run(
            [self.ctl, "--cluster", self.address, "-o", "json", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"clusterctl {' '.join(args)} failed: {p.stderr}")
        return json.loads(p.stdout) if p.stdout.strip() else None

    def logs(self) -> str:
        return "\n".join(f"--- node {n.id}:\n{tail(n.log, 40)}" for n in self.nodes.values())


PYTHON = sys.executable


class TcpProxy:
    """A loopback TCP proxy to one address; :meth:`cut` drops every open connection
    (as a network blip would) and keeps accepting new ones."""

    def __init__(self, target: str) -> None:
        import threading

        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.addr = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.cut()
