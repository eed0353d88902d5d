"""A scripted WorkerService for testing the SDK's side of the session protocol.

It speaks worker.proto's order (hello -> welcome -> assignments, acks,
cancels, heartbeats) and lets a test push messages, read what the worker
sent, and go silent (no heartbeats) to make the worker fence itself.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc

from schedulerd._pb import wpb, wpb_grpc


@dataclass
class FakeSession:
    hello: wpb.WorkerHello
    authorization: str | None = None
    out: queue.Queue[wpb.NodeMessage | None] = field(default_factory=queue.Queue)
    received: list[wpb.WorkerMessage] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)

    def send(self, msg: wpb.NodeMessage) -> None:
        self.out.put(msg)

    def close(self) -> None:
        self.out.put(None)

    def of_kind(self, kind: str) -> list[Any]:
        return [getattr(m, kind) for m in list(self.received) if m.WhichOneof("kind") == kind]


class FakeNode(wpb_grpc.WorkerServiceServicer):
    def __init__(self, lease_ms: int = 1500, heartbeat_ms: int = 100, node_id: int = 7) -> None:
        self.lease_ms = lease_ms
        self.heartbeat_ms = heartbeat_ms
        self.node_id = node_id
        self.silent = False  # no heartbeats, no messages: a paused node
        self.auto_ack = True
        self.sessions: list[FakeSession] = []
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        wpb_grpc.add_WorkerServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.addr = f"127.0.0.1:{self.port}"
        self.server.start()

    def stop(self) -> None:
        for s in self.sessions:
            s.close()
        self.server.stop(grace=None)

    def Session(self, request_iterator: Any, context: grpc.ServicerContext) -> Any:
        first = next(request_iterator)
        if first.WhichOneof("kind") != "hello":
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the first message must be a hello")
        md = dict(context.invocation_metadata())
        s = FakeSession(hello=first.hello, authorization=md.get("authorization"))
        with self.lock:
            self.sessions.append(s)
        context.add_callback(s.close)

        def read() -> None:
            try:
                for msg in request_iterator:
                    s.received.append(msg)
                    if self.auto_ack and msg.WhichOneof("kind") == "result":
                        s.send(
                            wpb.NodeMessage(
                                result_ack=wpb.WorkerResultAck(
                                    fencing_token=msg.result.fencing_token,
                                    fate=wpb.RESULT_FATE_ACCEPTED,
                                )
                            )
                        )
            except grpc.RpcError:
                pass
            finally:
                s.ended.set()
                s.close()

        threading.Thread(target=read, daemon=True).start()
        yield wpb.NodeMessage(
            welcome=wpb.WorkerWelcome(
                node_id=self.node_id,
                lease_ms=self.lease_ms,
                heartbeat_every_ms=self.heartbeat_ms,
                reattached=[h.fencing_token for h in first.hello.held],
            )
        )
        while True:
            try:
                msg = s.out.get(timeout=self.heartbeat_ms / 1000)
            except queue.Empty:
                if not self.silent:
                    yield wpb.NodeMessage(heartbeat=wpb.WorkerHeartbeat())
                continue
            if msg is None:
                return
            if self.silent:
                continue
            yield msg

    def session(self, index: int = -1, timeout: float = 10.0) -> FakeSession:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.sessions and (index < 0 or len(self.sessions) > index):
                    return self.sessions[index]
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for worker session #{index}")
            time.sleep(0.02)


def assignment(
    token: int, function: str = "f", args: str = "null", job_id: str = "job", attempt: int = 1
) -> wpb.NodeMessage:
    at = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    a = wpb.WorkerAssignment(
        job_id=job_id,
        occurrence_id=f"{job_id}@2026-11-30T12:00:{token % 60:02d}.000Z",
        fencing_token=token,
        attempt=attempt,
        node_id=7,
        queue="q",
        function=function,
        args=args,
        worker_id="w",
    )
    a.scheduled_at.FromDatetime(at.replace(tzinfo=None))
    return wpb.NodeMessage(assignment=a)
