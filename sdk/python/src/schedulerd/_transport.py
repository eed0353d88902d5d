"""Channels to the cluster's members, with failover and leader hints.

A call goes to the current address. On UNAVAILABLE (or a deadline) it goes
to the leader named in the trailing metadata ``x-leader-addr`` when there is
one, else to the next address, with a jittered backoff after each round,
until the retry window ends.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc

from .errors import SchedulerError, UnavailableError, from_rpc_error

T = TypeVar("T")

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
LEADER_HINT = "x-leader-addr"

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.enable_retries", 0),
]


def parse_addresses(addresses: str | Sequence[str]) -> list[str]:
    """``"a:1,b:2"`` or ``["a:1", "b:2"]`` -> ``["a:1", "b:2"]`` (order kept, duplicates dropped)."""
    items = addresses.split(",") if isinstance(addresses, str) else list(addresses)
    out: list[str] = []
    for a in items:
        a = a.strip()
        if a.startswith(("http://", "https://")):
            a = a.split("://", 1)[1]
        if a and a not in out:
            out.append(a)
    if not out:
        raise SchedulerError("give at least one HOST:PORT", "addresses")
    return out


def auth_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


def leader_hint(err: grpc.RpcError) -> str | None:
    trailing: Any = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == LEADER_HINT and isinstance(value, str) and value:
            return value
    return None


class Backoff:
    """Jittered exponential backoff: full jitter over ``[base, min(cap, base * 2^n)]``."""

    def __init__(self, base: float = 0.05, cap: float = 2.0) -> None:
        self.base = base
        self.cap = cap
        self.n = 0

    def next(self) -> float:
        hi = min(self.cap, self.base * (2**self.n))
        self.n += 1
        return random.uniform(self.base, max(self.base, hi))

    def reset(self) -> None:
        self.n = 0


class Endpoints:
    """The cluster's addresses and one channel per address (made on first use)."""

    def __init__(
        self,
        addresses: str | Sequence[str],
        token: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 10.0,
        retry_window: float = 30.0,
    ) -> None:
        self.addresses = parse_addresses(addresses)
        self.metadata = auth_metadata(token)
        self.credentials = credentials
        self.timeout = timeout
        self.retry_window = retry_window
        self.current = 0
        self.last_address: str | None = None
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    def channel(self, addr: str) -> grpc.Channel:
        with self._lock:
            ch = self._channels.get(addr)
            if ch is None:
                if self.credentials is not None:
                    ch = grpc.secure_channel(addr, self.credentials, options=CHANNEL_OPTIONS)
                else:
                    ch = grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)
                self._channels[addr] = ch
            return ch

    def close(self) -> None:
        with self._lock:
            for ch in self._channels.values():
                ch.close()
            self._channels.clear()

    def _move_on(self, err: grpc.RpcError, addr: str) -> bool:
        """Picks the next address; True when it is a new leader hint (no backoff needed)."""
        hint = leader_hint(err)
        if hint is not None and hint != addr:
            if hint not in self.addresses:
                self.addresses.append(hint)
            self.current = self.addresses.index(hint)
            return True
        self.current = (self.addresses.index(addr) + 1) % len(self.addresses)
        return False

    def call(
        self,
        what: str,
        fn: Callable[[grpc.Channel, int, float], T],
        retry: Callable[[grpc.RpcError], bool] | None = None,
        errors: Callable[[grpc.RpcError], SchedulerError] = from_rpc_error,
    ) -> T:
        """Runs ``fn(channel, attempt, timeout)`` against the members until one answers.

        ``attempt`` counts from 0; a create uses it to know that an earlier
        try may have been applied. ``retry(err)`` may veto a retry of a
        retryable error (a non-idempotent call whose outcome is unknown).
        ``errors`` turns a final gRPC error into the SDK's exception.
        """
        deadline = time.monotonic() + self.retry_window
        backoff = Backoff()
        attempt = 0
        tried_in_round = 0
        prev_hinted = False
        last: grpc.RpcError | None = None
        while True:
            addr = self.addresses[self.current]
            remaining = deadline - time.monotonic()
            try:
                result = fn(self.channel(addr), attempt, max(0.1, min(self.timeout, remaining)))
                self.last_address = addr
                return result
            except grpc.RpcError as err:
                code = err.code() if hasattr(err, "code") else None
                if code not in RETRYABLE or (retry is not None and not retry(err)):
                    raise errors(err) from None
                last = err
            attempt += 1
            hinted = self._move_on(last, addr)
            tried_in_round += 1
            if time.monotonic() >= deadline:
                detail = last.details() if hasattr(last, "details") else str(last)
                raise UnavailableError(
                    f"{what}: no member of {','.join(self.addresses)} answered within "
                    f"{self.retry_window:.0f} s (last error: {detail})",
                    code=grpc.StatusCode.UNAVAILABLE,
                ) from None
            # A fresh leader hint is tried at once; a second one in a row (the
            # leader moved again, or hints disagree) and a full round of
            # addresses wait first.
            if (hinted and prev_hinted) or (not hinted and tried_in_round >= len(self.addresses)):
                tried_in_round = 0
                time.sleep(min(backoff.next(), max(0.0, deadline - time.monotonic())))
            prev_hinted = hinted
