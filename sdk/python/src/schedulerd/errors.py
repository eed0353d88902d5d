"""Exceptions that carry the server's field path.

The cluster answers bad input with ``INVALID_ARGUMENT`` and a message that
starts with the field path (``job.schedule.cron: field 3 (day of month): 32
is out of range 1-31``). :func:`from_rpc_error` turns a gRPC error into the
matching exception, with ``.field`` set to that path and ``.message`` to the
rest.
"""

from __future__ import annotations

import re

import grpc

__all__ = [
    "CalendarInUseError",
    "CalendarLookupError",
    "ConflictingIdError",
    "InvalidArgument",
    "InvalidSchedule",
    "JobLookupError",
    "NotSerializableError",
    "SchedulerError",
    "UnavailableError",
    "VersionConflict",
    "from_calendar_rpc_error",
    "from_rpc_error",
]

# A field path: dotted identifiers, optionally indexed ("job.labels[env]").
_FIELD_RE = re.compile(r"^([A-Za-z_][\w]*(?:\[[^\]]*\])?(?:\.[A-Za-z_][\w]*(?:\[[^\]]*\])?)*): ")

# Fields whose errors are schedule errors (InvalidSchedule).
_SCHEDULE_FIELDS = ("job.schedule", "job.time_zone", "job.start_at", "job.end_at", "schedule")


class SchedulerError(Exception):
    """Base of every error of this SDK.

    ``field`` is the path of the field the server (or the SDK) found wrong,
    or ``None``; ``message`` is the explanation without the path; ``code`` is
    the gRPC status code when the error came from the cluster.
    """

    def __init__(
        self,
        message: str,
        field: str | None = None,
        code: grpc.StatusCode | None = None,
    ) -> None:
        self.field = field
        self.message = message
        self.code = code
        super().__init__(f"{field}: {message}" if field else message)


class InvalidArgument(SchedulerError, ValueError):
    """The cluster (or the SDK) refused an argument (INVALID_ARGUMENT)."""


class InvalidSchedule(InvalidArgument):
    """A schedule, time zone or bound is invalid (INVALID_ARGUMENT on ``job.schedule...``)."""


class NotSerializableError(SchedulerError, TypeError):
    """A job's ``args`` cannot be encoded as JSON (raised before any call)."""


class JobLookupError(SchedulerError, KeyError):
    """No job with that id (NOT_FOUND). Named after APScheduler's exception."""

    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


class CalendarLookupError(SchedulerError, KeyError):
    """No exclusion calendar with that name (NOT_FOUND from the calendar service)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


class CalendarInUseError(SchedulerError):
    """A calendar that jobs still name cannot be deleted (FAILED_PRECONDITION); the
    message names the jobs. Remove it from them first."""


class ConflictingIdError(SchedulerError):
    """A job with that id exists (ALREADY_EXISTS). Named after APScheduler's exception."""


class VersionConflict(SchedulerError):
    """The job changed since it was read (FAILED_PRECONDITION on expected_version)."""


class AuthenticationError(SchedulerError):
    """The cluster does not know the caller (UNAUTHENTICATED): no token, or one that is
    revoked or was never issued; or, for peers, no node certificate."""


class PermissionDeniedError(SchedulerError, PermissionError):
    """The caller's role does not allow the call (PERMISSION_DENIED); the message names the
    role it needs."""


class UnavailableError(SchedulerError, ConnectionError):
    """No member of the cluster could answer (UNAVAILABLE or unreachable) before the deadline."""


def split_field(message: str) -> tuple[str | None, str]:
    """Splits ``"job.schedule.cron: bad"`` into ``("job.schedule.cron", "bad")``."""
    m = _FIELD_RE.match(message)
    if m is None:
        return None, message
    return m.group(1), message[m.end() :]


def from_rpc_error(err: grpc.RpcError) -> SchedulerError:
    """The SDK exception for a gRPC error from the cluster."""
    code: grpc.StatusCode = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details: str = (err.details() if hasattr(err, "details") else None) or str(code)
    field, message = split_field(details)
    if code == grpc.StatusCode.NOT_FOUND:
        return JobLookupError(message, field, code)
    if code == grpc.StatusCode.ALREADY_EXISTS:
        return ConflictingIdError(message, field, code)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return VersionConflict(message, field, code)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        if field is not None and field.startswith(_SCHEDULE_FIELDS):
            return InvalidSchedule(message, field, code)
        return InvalidArgument(message, field, code)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return UnavailableError(message, field, code)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return AuthenticationError(message, field, code)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDeniedError(message, field, code)
    return SchedulerError(message, field, code)


def from_calendar_rpc_error(err: grpc.RpcError, deleting: bool = False) -> SchedulerError:
    """The SDK exception for a gRPC error from the calendar service.

    NOT_FOUND is :class:`CalendarLookupError`; FAILED_PRECONDITION is
    :class:`CalendarInUseError` on a delete (a job names the calendar) and
    :class:`VersionConflict` on a put (``expected_version`` did not match).
    """
    e = from_rpc_error(err)
    if isinstance(e, JobLookupError):
        return CalendarLookupError(e.message, e.field, e.code)
    if deleting and isinstance(e, VersionConflict):
        return CalendarInUseError(e.message, e.field, e.code)
    return e
