"""Plain data returned by the client: jobs, runs, events, cluster status."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import _convert as cv
from ._pb import cpb, pb, wpb

__all__ = [
    "BackfillResult",
    "Calendar",
    "ClusterStatus",
    "Event",
    "Job",
    "Member",
    "Run",
    "WorkerInfo",
]


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    try:
        name: str = enum.Name(value)
    except ValueError:
        return str(value)
    return name.removeprefix(prefix).lower()


def _opt_duration(msg: Any, name: str) -> timedelta | None:
    return getattr(msg, name).ToTimedelta() if msg.HasField(name) else None


@dataclass(frozen=True)
class Job:
    """A job as the cluster holds it.

    ``func`` is ``"QUEUE:FUNCTION"`` for worker jobs (None for shell/HTTP jobs);
    ``args`` the decoded JSON arguments; ``next_run_time`` the next instant
    (aware UTC), None when paused or finished, as in APScheduler.
    ``start_date``/``end_date`` are the bounds, ``exclude_calendars`` the
    exclusion calendars it names, ``after`` its upstream for a dependent job
    (``"extract:succeeded"`` or ``"extract:finished"``, else None).
    """

    id: str
    name: str
    func: str | None
    args: Any
    schedule: str
    timezone: str
    labels: dict[str, str]
    state: str
    paused: bool
    version: int
    next_run_time: datetime | None
    run_count: int
    misfire_grace_time: timedelta | None
    coalesce: str
    overlap: str
    max_instances: int
    created_at: datetime | None
    updated_at: datetime | None
    proto: pb.Job = field(repr=False, compare=False)
    # Who created and last changed it: a token's name, a certificate's user,
    # or "anonymous" on a cluster that checks nothing.
    created_by: str = ""
    updated_by: str = ""
    start_date: datetime | None = None
    end_date: datetime | None = None
    jitter: timedelta | None = None
    timeout: timedelta | None = None
    retries: int = 0
    max_runs: int = 0
    pause_after_failures: int = 0
    exclude_calendars: tuple[str, ...] = ()
    after: str | None = None

    @classmethod
    def from_proto(cls, j: pb.Job) -> Job:
        spec = j.spec
        func: str | None = None
        args: Any = None
        after: str | None = None
        if spec.executor.WhichOneof("kind") == "worker":
            w = spec.executor.worker
            func = f"{w.queue}:{w.function}"
            args = json.loads(w.args) if w.args else None
        kind = spec.schedule.WhichOneof("kind")
        if kind in ("cron", "human"):
            sched = f"{kind} {getattr(spec.schedule, kind)}"
        elif kind == "calendar":
            c = spec.schedule.calendar
            sched = "cron " + " ".join(
                f"{n}={getattr(c, n)}"
                for n in ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
                if getattr(c, n)
            )
        elif kind == "interval":
            sched = f"interval {spec.schedule.interval.every.ToTimedelta()}"
        elif kind == "once":
            sched = f"date {cv.rfc3339(cv.from_timestamp(spec.schedule.once))}"
        elif kind == "after":
            a = spec.schedule.after
            after = f"{a.job_id}:{'finished' if a.on_finished else 'succeeded'}"
            sched = f"after {after}"
        else:
            sched = "-"
        p = spec.policies
        state = _enum_name(pb.JobState, j.state, "JOB_STATE_")
        return cls(
            id=spec.id,
            name=spec.name,
            func=func,
            args=args,
            schedule=sched,
            timezone=spec.time_zone,
            labels=dict(spec.labels),
            state=state,
            paused=spec.paused or state == "paused",
            version=j.version,
            next_run_time=cv.opt_timestamp(j, "next_fire_at"),
            run_count=j.run_count,
            misfire_grace_time=_opt_duration(p, "misfire_grace"),
            coalesce=_enum_name(pb.Coalesce, p.coalesce, "COALESCE_"),
            overlap=_enum_name(pb.Overlap, p.overlap, "OVERLAP_"),
            max_instances=p.max_instances,
            created_at=cv.opt_timestamp(j, "created_at"),
            updated_at=cv.opt_timestamp(j, "updated_at"),
            proto=j,
            created_by=j.created_by,
            updated_by=j.updated_by,
            start_date=cv.opt_timestamp(spec, "start_at"),
            end_date=cv.opt_timestamp(spec, "end_at"),
            jitter=_opt_duration(p, "jitter"),
            timeout=_opt_duration(p, "timeout"),
            retries=p.retries.max_retries,
            max_runs=p.max_runs,
            pause_after_failures=p.pause_after_failures,
            exclude_calendars=tuple(spec.exclude_calendars),
            after=after,
        )


@dataclass(frozen=True)
class BackfillResult:
    """What :meth:`Client.backfill_job` did: occurrences ``created`` (running or waiting
    their turn) and instants of the range that had one ``existing`` (not run again)."""

    created: int
    existing: int


@dataclass(frozen=True)
class Calendar:
    """An exclusion calendar: days, read in ``timezone``, on which the jobs that name it
    do not fire.

    A day is excluded when it is one of ``dates`` (``YYYY-MM-DD``), falls in one
    of ``ranges`` (``(first, last)``, both included), or is a day on which one of
    ``crons`` fires (``"0 0 * * 6,0"``: weekends). ``used_by`` lists the jobs
    that name it (filled by :meth:`Client.get_calendar` only).
    """

    name: str
    description: str
    timezone: str
    dates: tuple[str, ...]
    ranges: tuple[tuple[str, str], ...]
    crons: tuple[str, ...]
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    updated_by: str
    used_by: tuple[str, ...]
    proto: cpb.Calendar = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, c: cpb.Calendar) -> Calendar:
        s = c.spec
        return cls(
            name=s.name,
            description=s.description,
            timezone=s.time_zone,
            dates=tuple(s.dates),
            ranges=tuple((getattr(r, "from"), r.to) for r in s.ranges),
            crons=tuple(s.crons),
            version=c.version,
            created_at=cv.opt_timestamp(c, "created_at"),
            updated_at=cv.opt_timestamp(c, "updated_at"),
            updated_by=c.updated_by,
            used_by=tuple(c.used_by),
            proto=c,
        )


@dataclass(frozen=True)
class Run:
    """An occurrence with its latest attempt: the fields of ``clusterctl runs -o json``, and more."""

    job_id: str
    occurrence_id: str
    scheduled_at: datetime | None
    attempt: int
    fencing_token: int
    node_id: int
    state: str
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    reason: str
    output_tail: str
    due_at: datetime | None
    # Why it did not run, as a type (``"misfire_grace"``, ``"max_instances"``,
    # ...), for missed, skipped and cancelled runs; ``None`` otherwise.
    cause: str | None = None

    @classmethod
    def from_proto(cls, r: pb.Run) -> Run:
        return cls(
            job_id=r.job_id,
            occurrence_id=r.occurrence_id,
            scheduled_at=cv.opt_timestamp(r, "scheduled_at"),
            attempt=r.attempt,
            fencing_token=r.fencing_token,
            node_id=r.node_id,
            state=_enum_name(pb.RunState, r.state, "RUN_STATE_"),
            started_at=cv.opt_timestamp(r, "started_at"),
            finished_at=cv.opt_timestamp(r, "finished_at"),
            exit_code=r.exit_code if r.HasField("exit_code") else None,
            reason=r.reason,
            output_tail=r.output_tail,
            due_at=cv.opt_timestamp(r, "due_at"),
            cause=None if r.cause == 0 else _enum_name(pb.NotRunCause, r.cause, "NOT_RUN_CAUSE_"),
        )

    def to_json(self) -> dict[str, Any]:
        """The object that ``clusterctl runs -o json`` prints for this run."""
        return {
            "job_id": self.job_id,
            "occurrence_id": self.occurrence_id,
            "scheduled_at": cv.rfc3339(self.scheduled_at),
            "attempt": self.attempt,
            "fencing_token": self.fencing_token,
            "node_id": self.node_id,
            "state": self.state,
            "started_at": cv.rfc3339(self.started_at),
            "finished_at": cv.rfc3339(self.finished_at),
            "exit_code": self.exit_code,
            "reason": self.reason,
            "cause": self.cause,
        }


@dataclass(frozen=True)
class Event:
    """One event of ``WatchEvents``; ``kind`` is e.g. ``"occurrence_succeeded"``."""

    kind: str
    at: datetime | None
    job_id: str
    occurrence_id: str
    node_id: int
    log_index: int
    detail: str

    @classmethod
    def from_proto(cls, e: pb.Event) -> Event:
        return cls(
            kind=_enum_name(pb.EventKind, e.kind, "EVENT_KIND_"),
            at=cv.opt_timestamp(e, "at"),
            job_id=e.job_id,
            occurrence_id=e.occurrence_id,
            node_id=e.node_id,
            log_index=e.log_index,
            detail=e.detail,
        )


@dataclass(frozen=True)
class Member:
    id: int
    addr: str
    voter: bool
    state: str
    last_log_index: int
    applied_index: int
    lag: int
    healthy: bool


@dataclass(frozen=True)
class ClusterStatus:
    """``clusterctl status``: the leader (None when unknown), term and members."""

    leader: int | None
    term: int
    members: list[Member]
    answered_by: int
    #: A membership change has not finished (two configurations in force, or
    #: the newest not committed yet): wait for False before stopping nodes.
    membership_changing: bool = False

    @property
    def leader_addr(self) -> str | None:
        for m in self.members:
            if m.id == self.leader:
                return m.addr
        return None

    @classmethod
    def from_proto(cls, s: pb.ClusterStatus) -> ClusterStatus:
        return cls(
            leader=s.leader if s.HasField("leader") else None,
            term=s.term,
            members=[
                Member(
                    id=m.id,
                    addr=m.addr,
                    voter=m.voter,
                    state=m.state,
                    last_log_index=m.last_log_index,
                    applied_index=m.applied_index,
                    lag=m.lag,
                    healthy=m.healthy,
                )
                for m in s.members
            ],
            answered_by=s.answered_by,
            membership_changing=s.membership_changing,
        )


@dataclass(frozen=True)
class WorkerInfo:
    """A connected worker (``WorkerService.ListWorkers``)."""

    worker_id: str
    node_id: int
    queues: list[str]
    functions: list[str]
    slots: int
    in_flight: int
    connected_at: datetime | None
    description: str

    @classmethod
    def from_proto(cls, w: wpb.WorkerInfo) -> WorkerInfo:
        return cls(
            worker_id=w.worker_id,
            node_id=w.node_id,
            queues=list(w.queues),
            functions=list(w.functions),
            slots=w.slots,
            in_flight=w.in_flight,
            connected_at=cv.opt_timestamp(w, "connected_at"),
            description=w.description,
        )
