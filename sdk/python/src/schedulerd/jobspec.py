"""Building a ``JobSpec`` from APScheduler-style keywords."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

from . import _convert as cv
from ._pb import pb
from .errors import InvalidArgument, InvalidSchedule, NotSerializableError
from .triggers import AfterTrigger, BaseTrigger, DateTrigger, make_trigger

__all__ = ["NOT_GIVEN", "NotGiven", "args_json", "build_spec", "func_target", "same_spec"]


class NotGiven:
    """The type of :data:`NOT_GIVEN`: a keyword that was not passed (None means something)."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = NotGiven()

TARGET_ATTR = "__schedulerd_target__"
RUN_NOW_LEAD = timedelta(seconds=1)

_COALESCE = {
    True: pb.COALESCE_LATEST,
    False: pb.COALESCE_ALL,
    "earliest": pb.COALESCE_EARLIEST,
    "latest": pb.COALESCE_LATEST,
    "all": pb.COALESCE_ALL,
}
_OVERLAP = {
    "allow": pb.OVERLAP_ALLOW,
    "skip": pb.OVERLAP_SKIP,
    "buffer_one": pb.OVERLAP_BUFFER_ONE,
    "buffer-one": pb.OVERLAP_BUFFER_ONE,
    "replace": pb.OVERLAP_REPLACE,
}

# The job keywords that are not trigger keywords.
JOB_KEYWORDS = frozenset(
    {
        "func",
        "queue",
        "args",
        "name",
        "misfire_grace_time",
        "coalesce",
        "max_instances",
        "overlap",
        "next_run_time",
        "labels",
        "node_selector",
        "retries",
        "retry_backoff",
        "retry_max_backoff",
        "retry_multiplier",
        "timeout",
        "max_runs",
        "pause_after_failures",
        "exclude_calendars",
        "after",
    }
)


def args_json(args: Any) -> str:
    """The job's arguments as compact JSON text; raises before any call when they are not JSON."""
    if args is None:
        return ""
    try:
        return json.dumps(args, allow_nan=False, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as e:
        raise NotSerializableError(f"not JSON-serialisable: {e}", "args") from e


def func_target(func: str | Callable[..., Any], queue: str | None = None) -> tuple[str, str]:
    """(queue, function) of ``"QUEUE:FUNCTION"`` or of a function registered on a Worker."""
    if callable(func) and not isinstance(func, str):
        target = getattr(func, TARGET_ATTR, None)
        if target is None:
            raise InvalidArgument(
                f"{getattr(func, '__name__', func)!r} is not registered with "
                "@worker.function(name); pass 'QUEUE:FUNCTION' instead",
                "func",
            )
        q, name = target
        return (queue or q, name)
    if not isinstance(func, str):
        raise InvalidArgument(f"{func!r} is neither 'QUEUE:FUNCTION' nor a function", "func")
    if queue is not None:
        return queue, func
    q, sep, name = func.partition(":")
    if not sep or not q or not name:
        raise InvalidArgument(f"{func!r} is not 'QUEUE:FUNCTION'", "func")
    return q, name


def _coalesce(value: object) -> int:
    key = value.lower() if isinstance(value, str) else value
    if isinstance(key, bool | str) and key in _COALESCE:
        return _COALESCE[key]
    raise InvalidArgument(
        f"{value!r} is not True, False, 'earliest', 'latest' or 'all'", "coalesce"
    )


def _str_map(value: Mapping[str, str] | None, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{value!r} is not a mapping of strings", field)
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidArgument(f"{k!r}={v!r}: keys and values must be strings", field)
        out[k] = v
    return out


def _names(value: object, field: str) -> list[str]:
    """One name or a sequence of names (a lone string is one name, not its letters)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset):
        raise InvalidArgument(f"{value!r} is not a name or a list of names", field)
    out: list[str] = []
    for v in items:
        if not isinstance(v, str):
            raise InvalidArgument(f"{v!r} is not a calendar name", field)
        out.append(v)
    return out


def _nonneg_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{value!r} is not a non-negative integer", field)
    return value


def build_spec(
    spec: pb.JobSpec,
    opts: Mapping[str, Any],
    trigger: str | BaseTrigger | None = None,
    trigger_args: Mapping[str, Any] | None = None,
    timezone: str | tzinfo | NotGiven | None = NOT_GIVEN,
) -> pb.JobSpec:
    """Applies the given options (only those present in ``opts``) to ``spec``, in place."""
    trigger_args = dict(trigger_args or {})
    after = opts.get("after")
    if after is not None:
        if trigger is not None:
            raise InvalidSchedule(
                f"give either after= or a trigger, not both (got trigger={trigger!r})", "after"
            )
        trigger = after if isinstance(after, AfterTrigger) else AfterTrigger.parse(after)
    if not isinstance(timezone, NotGiven):
        trigger_args.setdefault("timezone", timezone)
    if trigger is not None or trigger_args or not spec.HasField("schedule"):
        if trigger is None:
            kind = spec.schedule.WhichOneof("kind")
            if kind is None:
                # APScheduler runs a job without trigger once, now. The cluster
                # fires "once" instants strictly after the job's creation (a past
                # one finishes the job unrun), so "now" is a second ahead.
                trigger = DateTrigger(run_date=datetime.now().astimezone() + RUN_NOW_LEAD)
            else:
                raise InvalidSchedule(
                    f"trigger keywords {sorted(trigger_args)} need trigger=...", "trigger"
                )
        if isinstance(trigger, BaseTrigger) and "timezone" in trigger_args:
            tz = trigger_args.pop("timezone")
            if trigger.timezone is None:
                trigger.timezone = tz
        t = make_trigger(trigger, trigger_args)
        parts = t.to_parts()
        spec.schedule.CopyFrom(parts.schedule)
        spec.time_zone = parts.time_zone
        spec.ClearField("start_at")
        spec.ClearField("end_at")
        if parts.start_at is not None:
            spec.start_at.CopyFrom(parts.start_at)
        if parts.end_at is not None:
            spec.end_at.CopyFrom(parts.end_at)
        spec.policies.ClearField("jitter")
        if parts.jitter is not None:
            spec.policies.jitter.CopyFrom(parts.jitter)

    if "func" in opts or "queue" in opts or "args" in opts:
        w = spec.executor.worker
        if "func" in opts:
            w.queue, w.function = func_target(opts["func"], opts.get("queue"))
        elif "queue" in opts:
            w.queue = opts["queue"]
        if "args" in opts:
            w.args = args_json(opts["args"])
    if "name" in opts:
        spec.name = opts["name"] or ""
    if "exclude_calendars" in opts:
        del spec.exclude_calendars[:]
        spec.exclude_calendars.extend(_names(opts["exclude_calendars"], "exclude_calendars"))
    if "labels" in opts:
        spec.labels.clear()
        spec.labels.update(_str_map(opts["labels"], "labels"))
    if "node_selector" in opts:
        spec.node_selector.clear()
        spec.node_selector.update(_str_map(opts["node_selector"], "node_selector"))

    p = spec.policies
    if "misfire_grace_time" in opts:
        grace = opts["misfire_grace_time"]
        p.ClearField("misfire_grace")
        if grace is not None:  # None: no limit (APScheduler's meaning)
            p.misfire_grace.CopyFrom(cv.duration(grace, "misfire_grace_time"))
    if "coalesce" in opts:
        p.coalesce = _coalesce(opts["coalesce"])  # type: ignore[assignment]
    overlap = opts.get("overlap")
    if overlap is not None:
        o = _OVERLAP.get(str(overlap).lower())
        if o is None:
            raise InvalidArgument(f"{overlap!r} is not one of {sorted(set(_OVERLAP))}", "overlap")
        p.overlap = o
        if o != pb.OVERLAP_ALLOW:
            p.max_instances = 0
    if "max_instances" in opts:
        n = _nonneg_int(opts["max_instances"], "max_instances")
        if n == 0:
            raise InvalidArgument("must be at least 1", "max_instances")
        if overlap is not None and p.overlap != pb.OVERLAP_ALLOW:
            raise InvalidArgument(
                f"only applies with overlap='allow', not {overlap!r}", "max_instances"
            )
        p.overlap = pb.OVERLAP_ALLOW
        p.max_instances = n
    if "retries" in opts:
        p.retries.max_retries = _nonneg_int(opts["retries"], "retries")
    if opts.get("retry_backoff") is not None:
        p.retries.initial_backoff.CopyFrom(cv.duration(opts["retry_backoff"], "retry_backoff"))
    if opts.get("retry_max_backoff") is not None:
        p.retries.max_backoff.CopyFrom(cv.duration(opts["retry_max_backoff"], "retry_max_backoff"))
    if opts.get("retry_multiplier") is not None:
        m = opts["retry_multiplier"]
        if isinstance(m, bool) or not isinstance(m, int | float) or not math.isfinite(m):
            raise InvalidArgument(f"{m!r} is not a number", "retry_multiplier")
        p.retries.multiplier = float(m)
    if "timeout" in opts:
        p.ClearField("timeout")
        if opts["timeout"] is not None:
            p.timeout.CopyFrom(cv.duration(opts["timeout"], "timeout"))
    if "max_runs" in opts:
        p.max_runs = _nonneg_int(opts["max_runs"] or 0, "max_runs")
    if "pause_after_failures" in opts:
        p.pause_after_failures = _nonneg_int(
            opts["pause_after_failures"] or 0, "pause_after_failures"
        )
    if "next_run_time" in opts:
        nrt = opts["next_run_time"]
        if nrt is None:  # APScheduler: None means "paused"
            spec.paused = True
        else:
            spec.paused = False
            if not spec.HasField("start_at"):
                spec.start_at.CopyFrom(cv.timestamp(nrt, "next_run_time", spec.time_zone))
    return spec


def _normalized(spec: pb.JobSpec, ignore_paused: bool) -> pb.JobSpec:
    s = pb.JobSpec()
    s.CopyFrom(spec)
    if not s.name:
        s.name = s.id
    if s.time_zone in ("", "Etc/UTC"):
        s.time_zone = "UTC"
    if ignore_paused:
        s.paused = False
    return s


def same_spec(ours: pb.JobSpec, theirs: pb.JobSpec, ignore_paused: bool = False) -> bool:
    """Whether the cluster's spec is ours (its defaults filled in: name, time zone, policies).

    Policies are compared only where ours sets something: the cluster may
    fill in its defaults for the rest.
    """
    a = _normalized(ours, ignore_paused)
    b = _normalized(theirs, ignore_paused)
    for name in (
        "id",
        "name",
        "labels",
        "schedule",
        "time_zone",
        "start_at",
        "end_at",
        "paused",
        "executor",
        "node_selector",
        "exclude_calendars",
    ):
        if getattr(a, name) != getattr(b, name):
            return False
    return _subset(a.policies, b.policies)


def _subset(a: Any, b: Any) -> bool:
    """Every field set in message ``a`` has the same value in ``b`` (sub-messages likewise)."""
    for fd, value in a.ListFields():
        other = getattr(b, fd.name)
        if fd.message_type is not None and fd.label != fd.LABEL_REPEATED:
            if not _subset(value, other):
                return False
        elif other != value:
            return False
    return True
