"""Triggers with APScheduler's names and keywords, turned into the cluster's schedules.

``add_job(..., trigger="cron", hour=3)`` builds a :class:`CronTrigger`; a
trigger object may be passed instead (``trigger=CronTrigger.from_crontab("*/5 * * * *")``).

Where the semantics differ from APScheduler:

- ``CronTrigger.from_crontab`` strings follow Vixie cron on the cluster: in a
  crontab string ``0`` and ``7`` are Sunday, and when both day-of-month and
  day-of-week are restricted a day matches if *either* does. APScheduler
  keeps its own ``day_of_week`` numbering (0 = Monday) there. The structured
  fields (``day_of_week=0``) follow APScheduler: 0 = Monday; names are clearer.
- DST: a wall time that does not exist fires once, at the first instant after
  the gap; a repeated wall time fires once, at its first instance, when the
  hour is fixed (APScheduler 3 may skip or repeat them).
- ``jitter`` is a deterministic delay in ``[0, jitter)`` per occurrence, the
  same on every node (APScheduler draws a random one, in ``[-jitter, +jitter]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from . import _convert as cv
from ._pb import pb
from .errors import InvalidSchedule

__all__ = [
    "AfterTrigger",
    "BaseTrigger",
    "CronTrigger",
    "DateTrigger",
    "HumanTrigger",
    "IntervalTrigger",
    "ScheduleParts",
    "make_trigger",
]

CALENDAR_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")


@dataclass
class ScheduleParts:
    """What a trigger contributes to a job spec."""

    schedule: pb.Schedule
    time_zone: str = ""
    start_at: Timestamp | None = None
    end_at: Timestamp | None = None
    jitter: Duration | None = None


@dataclass
class BaseTrigger:
    """Common keywords: ``timezone``, ``start_date``, ``end_date``, ``jitter`` (seconds)."""

    timezone: str | tzinfo | None = field(default=None, kw_only=True)
    start_date: datetime | str | None = field(default=None, kw_only=True)
    end_date: datetime | str | None = field(default=None, kw_only=True)
    jitter: cv.Seconds | None = field(default=None, kw_only=True)

    def _schedule(self, zone: str) -> pb.Schedule:
        raise NotImplementedError

    def to_parts(self) -> ScheduleParts:
        zone = cv.zone_name(self.timezone)
        parts = ScheduleParts(schedule=self._schedule(zone), time_zone=zone)
        if self.start_date is not None:
            parts.start_at = cv.timestamp(self.start_date, "start_date", zone)
        if self.end_date is not None:
            parts.end_at = cv.timestamp(self.end_date, "end_date", zone)
        if self.jitter is not None:
            parts.jitter = cv.duration(self.jitter, "jitter")
        return parts


def _field_text(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidSchedule(f"{value!r} is not an int or a cron expression", name)
    return str(value)


@dataclass
class CronTrigger(BaseTrigger):
    """APScheduler's CronTrigger: every given field must match.

    Fields smaller than the smallest given one default to their minimum,
    larger ones to ``*`` (APScheduler's rule; the cluster applies it). Or a
    crontab string (``crontab=``, or :meth:`from_crontab`), which the cluster
    reads as Vixie cron (5 fields minute-first, 6 with seconds first, 7 with
    a year; ``@hourly`` macros; ``L``, ``5#3``).
    """

    year: int | str | None = None
    month: int | str | None = None
    day: int | str | None = None
    week: int | str | None = None
    day_of_week: int | str | None = None
    hour: int | str | None = None
    minute: int | str | None = None
    second: int | str | None = None
    crontab: str | None = None

    @classmethod
    def from_crontab(cls, expr: str, timezone: str | tzinfo | None = None) -> CronTrigger:
        """A trigger for a crontab string (read by the cluster as Vixie cron, see the module)."""
        return cls(crontab=expr, timezone=timezone)

    def _schedule(self, zone: str) -> pb.Schedule:
        given = {n: getattr(self, n) for n in CALENDAR_FIELDS if getattr(self, n) is not None}
        if self.crontab is not None:
            if given:
                raise InvalidSchedule(
                    f"give either crontab or calendar fields, not both (got {sorted(given)})",
                    "crontab",
                )
            if not isinstance(self.crontab, str) or not self.crontab.strip():
                raise InvalidSchedule("must be a non-empty cron string", "crontab")
            return pb.Schedule(cron=self.crontab.strip())
        if not given:
            # APScheduler's CronTrigger() with no field fires every minute... at second 0.
            given = {"second": 0}
        cal = pb.CalendarFields(**{n: _field_text(n, v) for n, v in given.items()})
        return pb.Schedule(calendar=cal)


@dataclass
class IntervalTrigger(BaseTrigger):
    """A period of real elapsed time (DST does not move it), anchored at ``start_date``.

    Without ``start_date`` the cluster anchors it at the Unix epoch: runs fall
    on multiples of the period (``seconds=10`` fires at :00, :10, ...), not
    one period after the job was added as in APScheduler. That keeps the
    spec the same each time it is declared, so re-registering changes nothing.
    """

    weeks: float = 0
    days: float = 0
    hours: float = 0
    minutes: float = 0
    seconds: float = 0

    def period(self) -> timedelta:
        return timedelta(
            weeks=self.weeks,
            days=self.days,
            hours=self.hours,
            minutes=self.minutes,
            seconds=self.seconds,
        )

    def _schedule(self, zone: str) -> pb.Schedule:
        every = self.period()
        if every < timedelta(seconds=1):
            raise InvalidSchedule(f"the period must be at least 1 second, got {every}", "interval")
        iv = pb.IntervalSchedule(every=cv.duration(every, "interval"))
        if self.start_date is not None:
            iv.anchor.CopyFrom(cv.timestamp(self.start_date, "start_date", zone))
        return pb.Schedule(interval=iv)


@dataclass
class DateTrigger(BaseTrigger):
    """One run at ``run_date`` (naive datetimes are read in ``timezone``, default UTC)."""

    run_date: datetime | str | None = None

    def _schedule(self, zone: str) -> pb.Schedule:
        if self.run_date is None:
            raise InvalidSchedule("the date trigger needs run_date", "run_date")
        return pb.Schedule(once=cv.timestamp(self.run_date, "run_date", zone))


@dataclass
class HumanTrigger(BaseTrigger):
    """A phrase the cluster parses: "every 10 seconds", "every day at 10:30", "@every 10s"."""

    phrase: str = ""

    def _schedule(self, zone: str) -> pb.Schedule:
        if not self.phrase.strip():
            raise InvalidSchedule("must be a non-empty phrase", "phrase")
        return pb.Schedule(human=self.phrase.strip())


AFTER_ON = ("succeeded", "finished")


@dataclass
class AfterTrigger(BaseTrigger):
    """A dependent job: no instants of its own, one run per occurrence of ``upstream``.

    ``on="succeeded"`` (the default) runs it after each upstream occurrence
    that succeeds; ``on="finished"`` after each one that ends in any way
    (failed or timed out too). Its occurrence takes the upstream's scheduled
    instant, so its id is ``<job>@<upstream's instant>`` and it runs once per
    upstream occurrence, across failovers. The upstream must exist; a cycle,
    or a chain deeper than 8, is refused (``InvalidSchedule`` on
    ``job.schedule.after.job_id``). ``add_job(..., after="extract")`` or
    ``after="extract:finished"`` is the short form (``clusterctl job add --after``).
    """

    upstream: str = ""
    on: str = "succeeded"

    @classmethod
    def parse(cls, text: str) -> AfterTrigger:
        """``"JOB"``, ``"JOB:succeeded"`` or ``"JOB:finished"``, as ``clusterctl --after`` takes."""
        if not isinstance(text, str):
            raise InvalidSchedule(f"{text!r} is not 'JOB' or 'JOB:succeeded|finished'", "after")
        job, sep, on = text.rpartition(":")
        if sep and on in AFTER_ON:
            return cls(upstream=job, on=on)
        return cls(upstream=text)

    def _schedule(self, zone: str) -> pb.Schedule:
        if not isinstance(self.upstream, str) or not self.upstream.strip():
            raise InvalidSchedule("name the upstream job", "after")
        if self.on not in AFTER_ON:
            raise InvalidSchedule(f"{self.on!r} is not one of {list(AFTER_ON)}", "after")
        return pb.Schedule(
            after=pb.AfterJob(job_id=self.upstream.strip(), on_finished=self.on == "finished")
        )


_KINDS: dict[str, type[BaseTrigger]] = {
    "after": AfterTrigger,
    "cron": CronTrigger,
    "interval": IntervalTrigger,
    "date": DateTrigger,
    "human": HumanTrigger,
}


def make_trigger(trigger: str | BaseTrigger, args: dict[str, Any]) -> BaseTrigger:
    """The trigger named ``trigger`` built from APScheduler-style keywords."""
    if isinstance(trigger, BaseTrigger):
        if args:
            raise InvalidSchedule(
                f"keywords {sorted(args)} are given with a trigger object; put them in it",
                "trigger",
            )
        return trigger
    kind = _KINDS.get(trigger) if isinstance(trigger, str) else None
    if kind is None:
        raise InvalidSchedule(f"{trigger!r} is not one of {sorted(_KINDS)}", "trigger")
    try:
        return kind(**args)
    except TypeError as e:
        known = sorted(kind.__dataclass_fields__)
        raise InvalidSchedule(
            f"unknown keyword for the {trigger} trigger ({e}); known: {known}", "trigger"
        ) from e
