"""What a worker function receives: the six facts of the executor contract, and more."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["JobContext"]


@dataclass
class JobContext:
    """One attempt of one occurrence, as the function sees it.

    ``cancelled`` becomes True when the node cancels the attempt (timeout,
    overlap ``replace``, job deleted, stale) or when the worker fences itself
    (nothing heard from its node for the lease). A sync function should check
    it (or call :meth:`sleep`) and stop; an ``async def`` is also cancelled
    (``asyncio.CancelledError``). Write effects through a fence
    (:mod:`schedulerd.fencing`) keyed on ``fencing_token``.
    """

    job_id: str
    occurrence_id: str
    worker_id: str
    args: Any
    scheduled_at: datetime
    fencing_token: int
    attempt: int
    node_id: int
    queue: str = ""
    function: str = ""
    deadline: datetime | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    cancel_reason: str | None = field(default=None, compare=False)
    _expired: Callable[[], bool] | None = field(default=None, repr=False, compare=False)

    @property
    def cancelled(self) -> bool:
        """True once the attempt is cancelled or the worker's lease ran out."""
        if self._cancel.is_set():
            return True
        if self._expired is not None and self._expired():
            self._set_cancelled("worker fenced itself: its lease ran out")
            return True
        return False

    def sleep(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``; returns False (early) once the attempt is cancelled."""
        return not self._cancel.wait(seconds) and not self.cancelled

    def _set_cancelled(self, reason: str) -> None:
        if not self._cancel.is_set():
            self.cancel_reason = reason
            self._cancel.set()
