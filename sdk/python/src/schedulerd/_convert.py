"""Conversions between Python values and protobuf time types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from .errors import InvalidArgument, InvalidSchedule

Seconds = int | float | timedelta


def zone_name(tz: str | tzinfo | None) -> str:
    """An IANA name for ``tz`` ("" for None): a string as is, a ZoneInfo's key, UTC as "UTC"."""
    if tz is None:
        return ""
    if isinstance(tz, str):
        return tz
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)  # zoneinfo, pytz
    if isinstance(key, str):
        return key
    if tz.utcoffset(None) == timedelta(0):
        return "UTC"
    raise InvalidSchedule(f"{tz!r} has no IANA name; give one such as 'Europe/Paris'", "timezone")


def _local_zone(name: str) -> tzinfo:
    if name in ("", "UTC", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # The cluster will judge the zone; read the naive time as UTC meanwhile.
        return UTC


def to_datetime(value: datetime | str, field: str, zone: str = "") -> datetime:
    """An aware datetime: naive values (and ISO strings without offset) are read in ``zone``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as e:
            raise InvalidSchedule(f"{value!r} is not an ISO 8601 date or time", field) from e
    if not isinstance(value, datetime):
        raise InvalidSchedule(f"{value!r} is not a datetime", field)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_local_zone(zone))
    return value


def timestamp(value: datetime | str, field: str, zone: str = "") -> Timestamp:
    ts = Timestamp()
    dt = to_datetime(value, field, zone)
    ts.FromDatetime(dt.astimezone(UTC).replace(tzinfo=None))
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    return datetime.fromtimestamp(ts.seconds, UTC) + timedelta(microseconds=ts.nanos // 1000)


def opt_timestamp(msg: Any, name: str) -> datetime | None:
    """The field ``name`` of ``msg`` as an aware UTC datetime, or None when unset."""
    return from_timestamp(getattr(msg, name)) if msg.HasField(name) else None


def to_timedelta(value: Seconds, field: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float | timedelta):
        raise InvalidArgument(f"{value!r} is not a number of seconds or a timedelta", field)
    td = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if td < timedelta(0):
        raise InvalidArgument(f"{value!r} is negative", field)
    return td


def duration(value: Seconds, field: str) -> Duration:
    d = Duration()
    d.FromTimedelta(to_timedelta(value, field))
    return d


def rfc3339(dt: datetime | None) -> str | None:
    """As `clusterctl -o json` prints instants: RFC 3339 UTC with milliseconds."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
