"""schedulerd: the Python SDK of the schedulerd cluster.

- :class:`Client`: jobs (APScheduler's ``add_job`` and trigger keywords), runs, events,
  backfills, exclusion calendars, status.
- :class:`Worker`: runs your functions for the cluster's jobs (``@worker.function(name)``).
- :class:`JobContext`: what a function gets (job id, occurrence id, fencing token, ...).
- :mod:`schedulerd.fencing`: exactly one effect per occurrence in a SQL database.
"""

from __future__ import annotations

from . import fencing
from .client import Client, EventStream
from .context import JobContext
from .errors import (
    AuthenticationError,
    CalendarInUseError,
    CalendarLookupError,
    ConflictingIdError,
    InvalidArgument,
    InvalidSchedule,
    JobLookupError,
    NotSerializableError,
    PermissionDeniedError,
    SchedulerError,
    UnavailableError,
    VersionConflict,
)
from .jobspec import NOT_GIVEN
from .models import BackfillResult, Calendar, ClusterStatus, Event, Job, Member, Run, WorkerInfo
from .triggers import AfterTrigger, CronTrigger, DateTrigger, HumanTrigger, IntervalTrigger
from .worker import Worker

__version__ = "0.1.0"

__all__ = [
    "NOT_GIVEN",
    "AfterTrigger",
    "AuthenticationError",
    "BackfillResult",
    "Calendar",
    "CalendarInUseError",
    "CalendarLookupError",
    "Client",
    "ClusterStatus",
    "ConflictingIdError",
    "CronTrigger",
    "DateTrigger",
    "Event",
    "EventStream",
    "HumanTrigger",
    "IntervalTrigger",
    "InvalidArgument",
    "InvalidSchedule",
    "Job",
    "JobContext",
    "JobLookupError",
    "Member",
    "NotSerializableError",
    "PermissionDeniedError",
    "Run",
    "SchedulerError",
    "UnavailableError",
    "VersionConflict",
    "Worker",
    "WorkerInfo",
    "__version__",
    "fencing",
]
