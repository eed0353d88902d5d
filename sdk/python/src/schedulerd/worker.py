"""Workers: your own process runs the cluster's jobs (``WorkerService.Session``).

Follows ``proto/scheduler/v1/worker.proto``: Hello first; the Welcome gives
the lease and the heartbeat period; the SDK sends heartbeats (user code never
does); with nothing heard from the node for the lease the worker cancels its
running functions (it fences itself); it reconnects with jittered
exponential backoff, to the same node first, naming the attempts it still
holds; each result is kept until a ResultAck and sent again after a
reconnect.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import logging
import os
import random
import re
import signal
import socket
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import grpc.aio

from . import _convert as cv
from ._pb import wpb, wpb_grpc
from ._transport import CHANNEL_OPTIONS, Backoff, auth_metadata, parse_addresses
from .context import JobContext
from .errors import SchedulerError
from .jobspec import TARGET_ATTR
from .triggers import BaseTrigger

__all__ = ["Worker"]

log = logging.getLogger("schedulerd.worker")

F = TypeVar("F", bound=Callable[..., Any])
JobFunction = Callable[[JobContext], Any] | Callable[[JobContext], Awaitable[Any]]

_NAME_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_FUNC_RE = re.compile(r"^[A-Za-z0-9._:-]{1,256}$")
OUTPUT_LIMIT = 4096
_EOF: Any = grpc.aio.EOF
WELCOME_TIMEOUT = 10.0
RESEND_AFTER = 5.0  # seconds without an ack before a result is sent again on the same session


def _tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[-limit:].decode("utf-8", "ignore")


def _default_worker_id() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:80] or "host"
    return f"{host}-{os.getpid()}-{random.randrange(16**6):06x}"


@dataclass
class _Attempt:
    ctx: JobContext
    task: asyncio.Task[None] | None = None
    is_async: bool = False


@dataclass
class _ScheduledJob:
    id: str
    func: Callable[..., Any]
    trigger: str | BaseTrigger
    kwargs: dict[str, Any]


@dataclass
class _SessionState:
    out: asyncio.Queue[wpb.WorkerMessage | None] = field(default_factory=asyncio.Queue)
    node_id: int = 0
    closed: bool = False
    call: Any = None


class Worker:
    """Runs the functions registered with :meth:`function` for the cluster's jobs.

    ``addresses``: the members to connect to (one session, to the first that
    answers). ``queues``: the queues served (each registered function is
    served in every one). ``max_concurrency``: attempts run at once (the
    ``slots`` of the hello); sync functions run in a thread pool of that
    size, ``async def`` ones on the event loop. ``drain_grace``: how long
    SIGTERM (or :meth:`stop`) waits for running functions before cancelling them.
    """

    def __init__(
        self,
        addresses: str | Sequence[str],
        queues: Sequence[str] = ("default",),
        max_concurrency: int = 8,
        worker_id: str | None = None,
        token: str | None = None,
        *,
        drain_grace: float = 30.0,
        description: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.addresses = parse_addresses(addresses)
        if isinstance(queues, str):
            queues = [queues]
        self.queues = list(queues)
        if not 1 <= len(self.queues) <= 64:
            raise SchedulerError("give 1-64 queues", "queues")
        for q in self.queues:
            if not _NAME_RE.match(q):
                raise SchedulerError(f"{q!r} is not 1-128 characters of [A-Za-z0-9._:-]", "queues")
        if isinstance(max_concurrency, bool) or not 1 <= max_concurrency <= 1024:
            raise SchedulerError(f"{max_concurrency!r} is not 1-1024", "max_concurrency")
        self.max_concurrency = max_concurrency
        self.worker_id = worker_id or _default_worker_id()
        if not _NAME_RE.match(self.worker_id):
            raise SchedulerError(
                f"{self.worker_id!r} is not 1-128 characters of [A-Za-z0-9._:-]", "worker_id"
            )
        self.drain_grace = drain_grace
        self.description = _tail(
            description or f"schedulerd-python pid={os.getpid()} host={socket.gethostname()}", 256
        )
        self._token = token
        self._metadata = auth_metadata(token)
        self._credentials = credentials
        self._functions: dict[str, JobFunction] = {}
        self._scheduled: list[_ScheduledJob] = []
        # Run state (made in arun).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._running: dict[int, _Attempt] = {}
        self._results: dict[int, wpb.WorkerResult] = {}
        self._session: _SessionState | None = None
        self._slots: asyncio.Semaphore | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._last_heard = 0.0
        self._last_tick = 0.0
        self._result_sent: dict[int, float] = {}
        self.result_resend_after = RESEND_AFTER
        self._lease = 10.0
        self._heartbeat_every = 1.0
        self._draining = False
        self._addr_index = 0
        self.stats: dict[str, int] = {
            "sessions": 0,
            "assignments": 0,
            "results_accepted": 0,
            "results_stale": 0,
            "fenced": 0,
            "cancelled": 0,
        }

    def __repr__(self) -> str:
        return f"Worker({self.worker_id!r}, queues={self.queues!r})"

    # ------------------------------------------------------------ registration

    def function(self, name: str | None = None) -> Callable[[F], F]:
        """Registers the decorated function under ``name`` (default: its ``__name__``)."""

        def register(fn: F) -> F:
            fname = name or fn.__name__
            if not _FUNC_RE.match(fname):
                raise SchedulerError(
                    f"{fname!r} is not 1-256 characters of [A-Za-z0-9._:-]", "name"
                )
            if fname in self._functions and self._functions[fname] is not fn:
                raise SchedulerError(f"{fname!r} is registered twice", "name")
            self._functions[fname] = fn
            setattr(fn, TARGET_ATTR, (self.queues[0], fname))
            return fn

        return register

    def scheduled_job(
        self, trigger: str | BaseTrigger, id: str | None = None, **kwargs: Any
    ) -> Callable[[F], F]:
        """Declares a job for the decorated function, registered idempotently by id at start.

        Same spec as in the cluster: nothing changes; a changed spec: an update.
        Takes :meth:`Client.add_job`'s keywords. Put it above ``@worker.function``,
        or alone (the function is then registered under its ``__name__``).
        """

        def declare(fn: F) -> F:
            if getattr(fn, TARGET_ATTR, None) is None:
                self.function()(fn)
            _, fname = getattr(fn, TARGET_ATTR)
            self._scheduled.append(_ScheduledJob(id or fname, fn, trigger, kwargs))
            return fn

        return declare

    @property
    def functions(self) -> list[str]:
        return sorted(self._functions)

    def declare_jobs(self) -> list[tuple[str, str]]:
        """Registers the ``@scheduled_job`` declarations now; returns (id, created|unchanged|updated)."""
        from .client import Client

        done: list[tuple[str, str]] = []
        if not self._scheduled:
            return done
        with Client(self.addresses, self._token, credentials=self._credentials) as c:
            for j in self._scheduled:
                _, what = c.declare_job(j.id, j.func, j.trigger, **j.kwargs)
                log.info("job %s: %s", j.id, what)
                done.append((j.id, what))
        return done

    # ------------------------------------------------------------ running

    def run(self, install_signal_handlers: bool = True) -> None:
        """Blocks until stopped. SIGTERM (and SIGINT) drain: see :meth:`stop`."""
        asyncio.run(self.arun(install_signal_handlers=install_signal_handlers))

    def stop(self) -> None:
        """Drains (thread-safe): take no new work, wait up to ``drain_grace`` for running
        functions, cancel the rest, report every result, close."""
        loop, ev = self._loop, self._stop
        if loop is None or ev is None:
            return
        with contextlib.suppress(RuntimeError):  # loop closed
            loop.call_soon_threadsafe(ev.set)

    async def arun(self, install_signal_handlers: bool = False) -> None:
        """Runs until :meth:`stop` (or SIGTERM when ``install_signal_handlers``)."""
        if not self._functions:
            raise SchedulerError(
                "register at least one function with @worker.function", "functions"
            )
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(self.max_concurrency)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.max_concurrency, thread_name_prefix="schedulerd-worker"
        )
        self._draining = False
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    self._loop.add_signal_handler(sig, self._stop.set)
        try:
            if self._scheduled:
                await asyncio.to_thread(self.declare_jobs)
            await self._main()
        finally:
            if install_signal_handlers:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                        self._loop.remove_signal_handler(sig)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._loop = None

    async def _main(self) -> None:
        assert self._stop is not None
        watchdog = asyncio.create_task(self._watchdog())
        sessions = asyncio.create_task(self._sessions())
        stop_wait = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({sessions, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if sessions.done():
                sessions.result()  # raise what ended it
                return
            await self._drain()
        finally:
            for t in (watchdog, sessions, stop_wait):
                t.cancel()
            await asyncio.gather(watchdog, sessions, stop_wait, return_exceptions=True)
            await self._cancel_all("worker stopped", wait=1.0)

    async def _drain(self) -> None:
        self._draining = True
        log.info("draining: %d running, grace %.1f s", len(self._running), self.drain_grace)
        deadline = time.monotonic() + self.drain_grace
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._running:
            await self._cancel_all("worker draining: grace ran out", wait=5.0)
        # Assignments already on the way get a prompt "cancelled" instead of
        # waiting out the lease on the node: listen one heartbeat longer.
        await asyncio.sleep(min(1.0, self._heartbeat_every))
        while self._running and time.monotonic() < deadline + 5.0:
            await asyncio.sleep(0.05)
        # Report every result (bounded): the session keeps running meanwhile.
        ack_deadline = time.monotonic() + max(5.0, min(self.drain_grace, 15.0))
        while self._results and time.monotonic() < ack_deadline:
            await asyncio.sleep(0.05)
        if self._results:
            log.warning("stopping with %d results not acknowledged", len(self._results))

    async def _cancel_all(self, reason: str, wait: float) -> None:
        for a in list(self._running.values()):
            self._cancel(a, reason)
        deadline = time.monotonic() + wait
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def _cancel(self, a: _Attempt, reason: str) -> None:
        a.ctx._set_cancelled(reason)
        if a.is_async and a.task is not None:
            a.task.cancel()

    def _lease_ran_out(self) -> bool:
        """True once this worker may have lost its attempts: nothing heard from the node
        for the lease, or this process itself stalled (paused, starved) for that long.

        ``ctx.cancelled`` asks this directly, so a function sees it at once after a
        SIGSTOP/SIGCONT, before the watchdog has run (and whatever heartbeats were
        buffered meanwhile)."""
        now = time.monotonic()
        if self._last_tick and now - self._last_tick > self._lease:
            return True
        return bool(self._last_heard) and now - self._last_heard > self._lease

    async def _watchdog(self) -> None:
        """Fences the worker: after its lease ran out, every running function is cancelled."""
        self._last_tick = time.monotonic()
        while True:
            await asyncio.sleep(min(0.1, self._heartbeat_every / 4))
            now = time.monotonic()
            stalled = now - self._last_tick > self._lease
            silent = bool(self._last_heard) and now - self._last_heard > self._lease
            self._last_tick = now
            if not (stalled or silent):
                continue
            why = (
                "worker fenced itself: this process stalled past its lease"
                if stalled
                else "worker fenced itself: nothing heard from its node for the lease"
            )
            live = [a for a in self._running.values() if not a.ctx._cancel.is_set()]
            if live:
                self.stats["fenced"] += len(live)
                log.warning(
                    "%s (lease %.1f s): cancelling %d attempts", why, self._lease, len(live)
                )
                for a in live:
                    self._cancel(a, why)
            if self._session is not None and not self._session.closed:
                # Reconnect: the node then re-attaches what is still ours or cancels the rest.
                self._close_session(self._session)

    def _close_session(self, s: _SessionState) -> None:
        s.closed = True
        s.out.put_nowait(None)
        if s.call is not None:
            s.call.cancel()  # a silent (paused) node would never end the read

    async def _sessions(self) -> None:
        assert self._stop is not None
        backoff = Backoff(base=0.1, cap=5.0)
        failures_here = 0
        while True:
            addr = self.addresses[self._addr_index]
            welcomed = False
            try:
                welcomed = await self._one_session(addr)
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as e:
                if e.code() in (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    grpc.StatusCode.FAILED_PRECONDITION,
                    grpc.StatusCode.UNIMPLEMENTED,
                    grpc.StatusCode.UNAUTHENTICATED,
                    grpc.StatusCode.PERMISSION_DENIED,
                ):
                    raise SchedulerError(
                        f"the node refused the session: {e.details()}", "hello", e.code()
                    ) from None
                log.info("session to %s ended: %s %s", addr, e.code().name, e.details())
            except Exception as e:  # a broken session must not kill the worker
                log.warning("session to %s failed: %r", addr, e)
            finally:
                self._session = None
            if self._stop.is_set() and not self._running and not self._results:
                return
            if welcomed:
                backoff.reset()
                failures_here = 0
            else:
                failures_here += 1
            # The same node first (held attempts re-attach there), then the others.
            if failures_here >= 2:
                self._addr_index = (self._addr_index + 1) % len(self.addresses)
                failures_here = 0
            await asyncio.sleep(backoff.next())

    async def _one_session(self, addr: str) -> bool:
        if self._credentials is not None:
            channel = grpc.aio.secure_channel(addr, self._credentials, options=CHANNEL_OPTIONS)
        else:
            channel = grpc.aio.insecure_channel(addr, options=CHANNEL_OPTIONS)
        state = _SessionState()
        welcomed = False
        try:
            stub = wpb_grpc.WorkerServiceStub(channel)
            held = [
                wpb.HeldAttempt(occurrence_id=a.ctx.occurrence_id, fencing_token=t)
                for t, a in self._running.items()
            ] + [
                wpb.HeldAttempt(occurrence_id=r.occurrence_id, fencing_token=t)
                for t, r in self._results.items()
                if t not in self._running
            ]
            hello = wpb.WorkerHello(
                worker_id=self.worker_id,
                queues=self.queues,
                functions=sorted(self._functions),
                slots=self.max_concurrency,
                held=held,
                description=self.description,
            )
            state.out.put_nowait(wpb.WorkerMessage(hello=hello))

            async def requests() -> AsyncIterator[wpb.WorkerMessage]:
                while True:
                    msg = await state.out.get()
                    if msg is None:
                        return
                    yield msg

            call = stub.Session(requests(), metadata=self._metadata)
            state.call = call
            first = await asyncio.wait_for(call.read(), WELCOME_TIMEOUT)
            if first is _EOF or first.WhichOneof("kind") != "welcome":
                raise SchedulerError(f"expected a welcome from {addr}, got {first!r}")
            w = first.welcome
            welcomed = True
            self.stats["sessions"] += 1
            self._lease = max(0.1, w.lease_ms / 1000.0)
            self._heartbeat_every = max(0.05, w.heartbeat_every_ms / 1000.0)
            self._last_heard = time.monotonic()
            state.node_id = w.node_id
            self._session = state
            log.info(
                "session to node %d at %s: lease %.1f s, heartbeat %.1f s, %d re-attached",
                w.node_id,
                addr,
                self._lease,
                self._heartbeat_every,
                len(w.reattached),
            )
            for token in sorted(self._results):  # results kept until acknowledged
                self._result_sent[token] = time.monotonic()
                state.out.put_nowait(wpb.WorkerMessage(result=self._results[token]))
            beat = asyncio.create_task(self._heartbeats(state))
            try:
                while True:
                    try:
                        msg = await call.read()
                    except asyncio.CancelledError:
                        task = asyncio.current_task()
                        if state.closed and task is not None and not task.cancelling():
                            return welcomed  # we cancelled the call (the lease ran out)
                        raise
                    if msg is _EOF:
                        return welcomed
                    self._last_heard = time.monotonic()
                    self._on_message(msg, state)
            finally:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
                call.cancel()
        finally:
            state.closed = True
            state.out.put_nowait(None)
            await channel.close(grace=None)

    async def _heartbeats(self, state: _SessionState) -> None:
        while not state.closed:
            await asyncio.sleep(self._heartbeat_every)
            if state.closed:
                return
            state.out.put_nowait(wpb.WorkerMessage(heartbeat=wpb.WorkerHeartbeat()))
            # A result the node could not record yet gets no ack: send it again.
            now = time.monotonic()
            for token, result in list(self._results.items()):
                if now - self._result_sent.get(token, now) > self.result_resend_after:
                    self._result_sent[token] = now
                    state.out.put_nowait(wpb.WorkerMessage(result=result))

    def _send(self, msg: wpb.WorkerMessage) -> None:
        s = self._session
        if msg.WhichOneof("kind") == "result":
            self._result_sent[msg.result.fencing_token] = time.monotonic()
        if s is not None and not s.closed:
            s.out.put_nowait(msg)

    def _on_message(self, msg: wpb.NodeMessage, state: _SessionState) -> None:
        kind = msg.WhichOneof("kind")
        if kind == "assignment":
            self._on_assignment(msg.assignment)
        elif kind == "cancel":
            a = self._running.get(msg.cancel.fencing_token)
            if a is not None:
                self.stats["cancelled"] += 1
                self._cancel(a, msg.cancel.reason or "cancelled")
        elif kind == "result_ack":
            ack = msg.result_ack
            self._result_sent.pop(ack.fencing_token, None)
            if self._results.pop(ack.fencing_token, None) is not None:
                if ack.fate == wpb.RESULT_FATE_STALE:
                    self.stats["results_stale"] += 1
                    log.info(
                        "result of token %d refused as stale: %s", ack.fencing_token, ack.reason
                    )
                else:
                    self.stats["results_accepted"] += 1
        # heartbeats and a repeated welcome only refresh _last_heard

    def _on_assignment(self, a: wpb.WorkerAssignment) -> None:
        token = a.fencing_token
        if token in self._running or token in self._results:
            return  # already ours (a re-sent assignment after a reconnect)
        self.stats["assignments"] += 1
        try:
            args = json.loads(a.args) if a.args else None
        except ValueError:
            args = a.args
        ctx = JobContext(
            job_id=a.job_id,
            occurrence_id=a.occurrence_id,
            worker_id=self.worker_id,
            args=args,
            scheduled_at=cv.from_timestamp(a.scheduled_at),
            fencing_token=token,
            attempt=a.attempt,
            node_id=a.node_id,
            queue=a.queue,
            function=a.function,
            deadline=cv.opt_timestamp(a, "deadline"),
            _expired=self._lease_ran_out,
        )
        fn = self._functions.get(a.function)
        attempt = _Attempt(ctx=ctx, is_async=fn is not None and inspect.iscoroutinefunction(fn))
        self._running[token] = attempt
        attempt.task = asyncio.get_running_loop().create_task(self._execute(attempt, fn))

    async def _execute(self, a: _Attempt, fn: JobFunction | None) -> None:
        ctx = a.ctx
        outcome: wpb.WorkerOutcome = wpb.WORKER_OUTCOME_FAILED
        output = ""
        assert self._slots is not None
        try:
            if fn is None:
                output = f"no function {ctx.function!r} on worker {self.worker_id}"
            elif self._draining:
                outcome, output = wpb.WORKER_OUTCOME_CANCELLED, "worker draining: not started"
            else:
                async with self._slots:
                    if ctx.cancelled:
                        outcome, output = wpb.WORKER_OUTCOME_CANCELLED, ctx.cancel_reason or ""
                    else:
                        self._send(
                            wpb.WorkerMessage(
                                started=wpb.WorkerStarted(fencing_token=ctx.fencing_token)
                            )
                        )
                        outcome, output = await self._call(a, fn)
        except asyncio.CancelledError:
            outcome, output = wpb.WORKER_OUTCOME_CANCELLED, ctx.cancel_reason or "cancelled"
        finally:
            result = wpb.WorkerResult(
                occurrence_id=ctx.occurrence_id,
                fencing_token=ctx.fencing_token,
                outcome=outcome,
                output=_tail(output),
            )
            self._results[ctx.fencing_token] = result
            self._running.pop(ctx.fencing_token, None)
            self._send(wpb.WorkerMessage(result=result))

    async def _call(self, a: _Attempt, fn: JobFunction) -> tuple[wpb.WorkerOutcome, str]:
        ctx = a.ctx
        try:
            if a.is_async:
                value = await fn(ctx)
            else:
                loop = asyncio.get_running_loop()
                value = await loop.run_in_executor(self._pool, fn, ctx)
        except asyncio.CancelledError:
            return wpb.WORKER_OUTCOME_CANCELLED, ctx.cancel_reason or "cancelled"
        except BaseException:  # the function's error is the attempt's outcome
            if ctx.cancelled:
                return wpb.WORKER_OUTCOME_CANCELLED, traceback.format_exc()
            return wpb.WORKER_OUTCOME_FAILED, traceback.format_exc()
        if ctx.cancelled:
            return wpb.WORKER_OUTCOME_CANCELLED, ctx.cancel_reason or "cancelled"
        return wpb.WORKER_OUTCOME_SUCCEEDED, _output_of(value)


def _output_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError):
        return repr(value)
