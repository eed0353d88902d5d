"""The Worker's side of worker.proto, against a scripted node (no schedulerd needed)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fake_node import FakeNode, FakeSession, assignment

import schedulerd
from cluster import wait_for
from schedulerd._pb import wpb


@pytest.fixture
def node() -> Iterator[FakeNode]:
    n = FakeNode()
    yield n
    n.stop()


class Running:
    """A Worker running in a thread; stopped (drained) at the end of the test."""

    def __init__(self, worker: schedulerd.Worker) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.worker.run(install_signal_handlers=False)
        except BaseException as e:
            self.error = e

    def stop(self, timeout: float = 20) -> None:
        self.worker.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the worker did not stop"


@pytest.fixture
def run_worker() -> Iterator[Any]:
    started: list[Running] = []

    def start(worker: schedulerd.Worker) -> Running:
        r = Running(worker)
        started.append(r)
        return r

    yield start
    for r in started:
        if r.thread.is_alive():
            r.worker.drain_grace = 0.5
            r.stop()


def results(s: FakeSession) -> dict[int, wpb.WorkerResult]:
    return {r.fencing_token: r for r in s.of_kind("result")}


def wait_result(s: FakeSession, token: int, timeout: float = 10) -> wpb.WorkerResult:
    return wait_for(lambda: results(s).get(token), timeout, f"the result of token {token}")


def test_hello_then_run_sync_function(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q", "q2"], max_concurrency=3, worker_id="w-1")
    seen: list[schedulerd.JobContext] = []

    @w.function("f")
    def f(ctx: schedulerd.JobContext) -> dict[str, int]:
        seen.append(ctx)
        return {"n": ctx.args["n"] * 2}

    @w.function("g")
    async def g(ctx: schedulerd.JobContext) -> None:
        pass

    run_worker(w)
    s = node.session()
    assert s.hello.worker_id == "w-1"
    assert list(s.hello.queues) == ["q", "q2"]
    assert sorted(s.hello.functions) == ["f", "g"] and s.hello.slots == 3
    s.send(assignment(11, "f", '{"n": 21}'))
    r = wait_result(s, 11)
    assert r.outcome == wpb.WORKER_OUTCOME_SUCCEEDED and r.output == '{"n": 42}'
    assert [m.fencing_token for m in s.of_kind("started")] == [11]
    # Started came before the result.
    kinds = [m.WhichOneof("kind") for m in s.received if m.WhichOneof("kind") != "heartbeat"]
    assert kinds.index("started") < kinds.index("result")
    ctx = seen[0]
    assert ctx.job_id == "job" and ctx.fencing_token == 11 and ctx.attempt == 1
    assert ctx.node_id == 7 and ctx.worker_id == "w-1" and ctx.queue == "q"
    assert ctx.scheduled_at == datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    assert ctx.scheduled_at.tzinfo is not None and not ctx.cancelled
    # The ack drops the result (nothing re-sent later).
    wait_for(lambda: not w._results, 5, "the acknowledged result to be dropped")


def test_exception_fails_with_traceback_tail(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"])

    @w.function("f")
    def f(ctx: schedulerd.JobContext) -> None:
        raise ValueError("the report has no rows")

    run_worker(w)
    s = node.session()
    s.send(assignment(5))
    r = wait_result(s, 5)
    assert r.outcome == wpb.WORKER_OUTCOME_FAILED
    assert "ValueError: the report has no rows" in r.output and "Traceback" in r.output


def test_unknown_function_fails(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"])
    w.function("f")(lambda ctx: None)
    run_worker(w)
    s = node.session()
    s.send(assignment(6, "nope"))
    r = wait_result(s, 6)
    assert r.outcome == wpb.WORKER_OUTCOME_FAILED and "nope" in r.output


def test_cancel_reaches_sync_and_async_functions(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"])
    flags: dict[str, Any] = {}

    @w.function("sync")
    def sync_fn(ctx: schedulerd.JobContext) -> None:
        flags["sync_started"] = True
        ok = ctx.sleep(30)
        flags["sync_sleep_returned"] = ok
        flags["sync_cancelled"] = ctx.cancelled

    @w.function("async")
    async def async_fn(ctx: schedulerd.JobContext) -> None:
        flags["async_started"] = True
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            flags["async_cancelled"] = ctx.cancelled
            raise

    run_worker(w)
    s = node.session()
    s.send(assignment(1, "sync"))
    s.send(assignment(2, "async"))
    wait_for(lambda: flags.get("sync_started") and flags.get("async_started"), 5, "both to start")
    t0 = time.monotonic()
    s.send(wpb.NodeMessage(cancel=wpb.WorkerCancel(fencing_token=1, reason="timeout")))
    s.send(wpb.NodeMessage(cancel=wpb.WorkerCancel(fencing_token=2, reason="cancelled")))
    r1, r2 = wait_result(s, 1), wait_result(s, 2)
    assert time.monotonic() - t0 < 5
    assert r1.outcome == wpb.WORKER_OUTCOME_CANCELLED and r2.outcome == wpb.WORKER_OUTCOME_CANCELLED
    assert flags["sync_sleep_returned"] is False and flags["sync_cancelled"] is True
    assert flags["async_cancelled"] is True


def test_max_concurrency_is_enforced(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"], max_concurrency=2)
    lock = threading.Lock()
    now = {"n": 0, "max": 0}

    @w.function("f")
    def f(ctx: schedulerd.JobContext) -> None:
        with lock:
            now["n"] += 1
            now["max"] = max(now["max"], now["n"])
        time.sleep(0.3)
        with lock:
            now["n"] -= 1

    run_worker(w)
    s = node.session()
    for t in range(1, 7):  # more than the slots: a misbehaving node
        s.send(assignment(t))
    for t in range(1, 7):
        assert wait_result(s, t).outcome == wpb.WORKER_OUTCOME_SUCCEEDED
    assert now["max"] == 2


def test_sdk_sends_heartbeats(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"])
    w.function("f")(lambda ctx: None)
    run_worker(w)
    s = node.session()
    wait_for(lambda: len(s.of_kind("heartbeat")) >= 5, 5, "5 heartbeats at 100 ms")


def test_silent_node_worker_fences_itself_and_resends_on_reconnect(
    node: FakeNode, run_worker: Any
) -> None:
    """Nothing heard for the lease: the running function is cancelled; on the
    next session the hello holds the attempt and the result is sent again."""
    w = schedulerd.Worker(node.addr, queues=["q"])
    state: dict[str, Any] = {}

    @w.function("f")
    def f(ctx: schedulerd.JobContext) -> None:
        state["started"] = time.monotonic()
        ctx.sleep(30)
        state["cancelled_after"] = time.monotonic() - state["started"]
        state["reason"] = ctx.cancel_reason

    node.auto_ack = False
    run_worker(w)
    s1 = node.session(0)
    s1.send(assignment(9))
    wait_for(lambda: "started" in state, 5, "the function to start")
    node.silent = True  # a paused node: no heartbeat, no ack
    wait_for(lambda: "cancelled_after" in state, 10, "the worker to fence itself")
    lease = node.lease_ms / 1000
    assert lease <= state["cancelled_after"] < lease + 2.0
    assert "lease" in state["reason"]
    assert w.stats["fenced"] == 1
    node.silent = False
    node.auto_ack = True
    s2 = wait_for(lambda: len(node.sessions) >= 2 and node.sessions[-1], 15, "a new session")
    assert [(h.occurrence_id, h.fencing_token) for h in s2.hello.held] == [
        ("job@2026-11-30T12:00:09.000Z", 9)
    ]
    r = wait_result(s2, 9)
    assert r.outcome == wpb.WORKER_OUTCOME_CANCELLED
    wait_for(lambda: not w._results, 5, "the result to be acknowledged")


def test_reconnects_after_a_broken_stream(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"])
    w.function("f")(lambda ctx: "done")
    run_worker(w)
    s1 = node.session(0)
    s1.close()  # the node ends the stream
    s2 = wait_for(lambda: len(node.sessions) >= 2 and node.sessions[1], 10, "a second session")
    s2.send(assignment(3))
    assert wait_result(s2, 3).output == "done"


def test_result_kept_until_ack_and_resent(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"])
    w.function("f")(lambda ctx: "v")
    node.auto_ack = False
    run_worker(w)
    s1 = node.session(0)
    s1.send(assignment(4))
    wait_result(s1, 4)
    assert 4 in w._results  # no ack yet
    node.auto_ack = True
    s1.close()
    s2 = wait_for(lambda: len(node.sessions) >= 2 and node.sessions[1], 10, "a second session")
    assert [h.fencing_token for h in s2.hello.held] == [4]
    assert wait_result(s2, 4).output == "v"
    wait_for(lambda: not w._results, 5, "the ack to drop the result")


def test_stale_ack_drops_the_result(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"])
    w.function("f")(lambda ctx: None)
    node.auto_ack = False
    run_worker(w)
    s = node.session()
    s.send(assignment(8))
    wait_result(s, 8)
    s.send(
        wpb.NodeMessage(
            result_ack=wpb.WorkerResultAck(fencing_token=8, fate=wpb.RESULT_FATE_STALE, reason="x")
        )
    )
    wait_for(lambda: not w._results, 5, "the stale ack to drop the result")
    assert w.stats["results_stale"] == 1


def test_stop_drains_running_functions(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"], drain_grace=10)
    done = threading.Event()

    @w.function("f")
    def f(ctx: schedulerd.JobContext) -> str:
        time.sleep(1.0)
        done.set()
        return "finished"

    r = run_worker(w)
    s = node.session()
    s.send(assignment(12))
    wait_for(lambda: s.of_kind("started"), 5, "the function to start")
    t0 = time.monotonic()
    r.stop()
    assert done.is_set()
    assert results(s)[12].outcome == wpb.WORKER_OUTCOME_SUCCEEDED
    assert time.monotonic() - t0 < 5


def test_drain_grace_cancels_what_overruns(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"], drain_grace=0.5)

    @w.function("f")
    def f(ctx: schedulerd.JobContext) -> None:
        ctx.sleep(30)

    r = run_worker(w)
    s = node.session()
    s.send(assignment(13))
    wait_for(lambda: s.of_kind("started"), 5, "the function to start")
    r.stop()
    assert results(s)[13].outcome == wpb.WORKER_OUTCOME_CANCELLED


def test_bad_registration() -> None:
    w = schedulerd.Worker("127.0.0.1:1", queues=["q"])
    with pytest.raises(schedulerd.SchedulerError):
        w.function("bad name!")(lambda ctx: None)
    with pytest.raises(schedulerd.SchedulerError):
        schedulerd.Worker("127.0.0.1:1", queues=["bad queue"])
    with pytest.raises(schedulerd.SchedulerError):
        schedulerd.Worker("127.0.0.1:1", queues=["q"], max_concurrency=0)


def test_stalled_process_fences_itself_despite_buffered_heartbeats(
    node: FakeNode, run_worker: Any
) -> None:
    """A stall longer than the lease (here: the event loop blocked, as after
    SIGSTOP/SIGCONT) cancels running functions, even though the node's
    heartbeats kept arriving in the socket meanwhile."""
    w = schedulerd.Worker(node.addr, queues=["q"])
    seen: dict[str, Any] = {}

    @w.function("steady")
    def steady(ctx: schedulerd.JobContext) -> None:
        seen["started"] = True
        while not ctx.cancelled:
            time.sleep(0.01)
        seen["reason"] = ctx.cancel_reason

    @w.function("hog")
    async def hog(ctx: schedulerd.JobContext) -> None:
        time.sleep(node.lease_ms / 1000 + 0.7)  # blocks the loop: a stall

    run_worker(w)
    s1 = node.session(0)
    s1.send(assignment(21, "steady"))
    wait_for(lambda: seen.get("started"), 5, "the steady function to start")
    s1.send(assignment(22, "hog"))
    wait_for(lambda: "reason" in seen, 10, "the steady function to see ctx.cancelled")
    assert "lease" in seen["reason"]
    s2 = wait_for(lambda: len(node.sessions) >= 2 and node.sessions[1], 10, "a new session")
    assert wait_result(s2, 21).outcome == wpb.WORKER_OUTCOME_CANCELLED


def test_unacknowledged_result_is_resent_on_the_same_session(
    node: FakeNode, run_worker: Any
) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"])
    w.result_resend_after = 0.3
    w.function("f")(lambda ctx: "x")
    node.auto_ack = False
    run_worker(w)
    s = node.session()
    s.send(assignment(30))
    wait_for(
        lambda: len([r for r in s.of_kind("result") if r.fencing_token == 30]) >= 2, 5, "a resend"
    )
    assert len(node.sessions) == 1
    s.send(
        wpb.NodeMessage(
            result_ack=wpb.WorkerResultAck(fencing_token=30, fate=wpb.RESULT_FATE_ACCEPTED)
        )
    )
    wait_for(lambda: not w._results, 5, "the ack to drop the result")
    n = len(s.of_kind("result"))
    time.sleep(1.0)  # a quiet period: nothing more may be sent (not a wait for a condition)
    assert len(s.of_kind("result")) == n


def test_token_goes_in_metadata_only(node: FakeNode, run_worker: Any) -> None:
    w = schedulerd.Worker(node.addr, queues=["q"], token="tok-456")
    w.function("f")(lambda ctx: None)
    run_worker(w)
    s = node.session()
    assert s.authorization == "Bearer tok-456"
    assert "tok-456" not in str(s.hello) and "tok-456" not in repr(w)
