"""Building specs from APScheduler keywords, without a cluster."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest

from schedulerd import (
    ConflictingIdError,
    CronTrigger,
    InvalidArgument,
    InvalidSchedule,
    JobLookupError,
    NotSerializableError,
    SchedulerError,
    Worker,
)
from schedulerd._pb import pb
from schedulerd.errors import from_rpc_error, split_field
from schedulerd.jobspec import build_spec, func_target, same_spec


def spec(trigger: object = None, trigger_args: dict | None = None, **opts: object) -> pb.JobSpec:
    opts.setdefault("func", "q:f")
    tz = opts.pop("timezone", None)
    s = pb.JobSpec(id="x")
    if tz is not None:
        return build_spec(s, opts, trigger, trigger_args or {}, tz)  # type: ignore[arg-type]
    return build_spec(s, opts, trigger, trigger_args or {})  # type: ignore[arg-type]


def test_cron_fields_pass_through_as_calendar() -> None:
    s = spec("cron", {"hour": 3, "minute": "*/5", "day_of_week": "mon-fri"})
    assert s.schedule.WhichOneof("kind") == "calendar"
    c = s.schedule.calendar
    assert (c.hour, c.minute, c.day_of_week) == ("3", "*/5", "mon-fri")
    assert (c.second, c.year, c.month, c.day, c.week) == ("", "", "", "", "")


def test_crontab_string_and_helper() -> None:
    s = spec("cron", {"crontab": "*/5 * * * *"})
    assert s.schedule.cron == "*/5 * * * *"
    t = CronTrigger.from_crontab("0 3 * * mon", timezone="Europe/Paris")
    s2 = spec(t)
    assert s2.schedule.cron == "0 3 * * mon" and s2.time_zone == "Europe/Paris"
    with pytest.raises(InvalidSchedule) as e:
        spec("cron", {"crontab": "* * * * *", "hour": 1})
    assert e.value.field == "crontab"


def test_interval_date_and_bounds() -> None:
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    s = spec(
        "interval",
        {"hours": 1, "seconds": 30, "start_date": start, "end_date": "2027-01-01T00:00:00Z"},
        timezone="Europe/Paris",
    )
    iv = s.schedule.interval
    assert iv.every.ToTimedelta() == timedelta(hours=1, seconds=30)
    assert iv.anchor.ToDatetime(tzinfo=UTC) == start
    assert s.start_at.ToDatetime(tzinfo=UTC) == start
    assert s.end_at.ToDatetime(tzinfo=UTC) == datetime(2027, 1, 1, tzinfo=UTC)
    # A naive run_date is read in the job's zone.
    d = spec("date", {"run_date": datetime(2026, 7, 1, 10, 0)}, timezone="Europe/Paris")
    got = d.schedule.once.ToDatetime(tzinfo=UTC)
    assert got == datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    j = spec("interval", {"seconds": 10, "jitter": 2.5})
    assert j.policies.jitter.ToTimedelta() == timedelta(seconds=2.5)


def test_policies_map_to_the_proto() -> None:
    s = spec(
        "interval",
        {"seconds": 5},
        misfire_grace_time=30,
        coalesce=True,
        max_instances=3,
        retries=2,
        retry_backoff=1.5,
        timeout=timedelta(minutes=2),
        max_runs=7,
        labels={"team": "a"},
    )
    p = s.policies
    assert p.misfire_grace.ToTimedelta() == timedelta(seconds=30)
    assert p.coalesce == pb.COALESCE_LATEST
    assert (p.overlap, p.max_instances) == (pb.OVERLAP_ALLOW, 3)
    assert p.retries.max_retries == 2
    assert p.retries.initial_backoff.ToTimedelta() == timedelta(seconds=1.5)
    assert p.timeout.ToTimedelta() == timedelta(minutes=2)
    assert p.max_runs == 7 and dict(s.labels) == {"team": "a"}
    assert spec("interval", {"seconds": 5}, coalesce=False).policies.coalesce == pb.COALESCE_ALL
    assert spec("interval", {"seconds": 5}, overlap="skip").policies.overlap == pb.OVERLAP_SKIP
    grace_none = spec("interval", {"seconds": 5}, misfire_grace_time=None)
    assert not grace_none.policies.HasField("misfire_grace")


def test_next_run_time_none_means_paused() -> None:
    assert spec("interval", {"seconds": 5}, next_run_time=None).paused
    assert not spec("interval", {"seconds": 5}).paused


def test_bad_input_raises_before_any_call() -> None:
    with pytest.raises(NotSerializableError) as e:
        spec("interval", {"seconds": 5}, args={"when": datetime.now()})
    assert e.value.field == "args" and isinstance(e.value, TypeError)
    with pytest.raises(NotSerializableError):
        spec("interval", {"seconds": 5}, args=[math.nan])
    with pytest.raises(InvalidSchedule) as e2:
        spec("interval", {"seconds": 0.5})
    assert e2.value.field == "interval"
    with pytest.raises(InvalidSchedule) as e3:
        spec("cron", {"hours": 3})  # APScheduler's name is "hour"
    assert e3.value.field == "trigger"
    with pytest.raises(InvalidSchedule):
        spec("weekly", {})
    with pytest.raises(InvalidArgument) as e4:
        spec("interval", {"seconds": 5}, func="nocolon")
    assert e4.value.field == "func"
    with pytest.raises(InvalidArgument) as e5:
        spec("interval", {"seconds": 5}, max_instances=2, overlap="skip")
    assert e5.value.field == "max_instances"


def test_registered_function_names_its_queue() -> None:
    w = Worker("127.0.0.1:1", queues=["reports", "other"])

    @w.function("build")
    def build(ctx: object) -> None:
        pass

    assert func_target(build) == ("reports", "build")
    assert func_target(build, queue="other") == ("other", "build")
    assert func_target("a:b:c") == ("a", "b:c")

    def loose(ctx: object) -> None:
        pass

    with pytest.raises(InvalidArgument):
        func_target(loose)


def test_same_spec_ignores_server_defaults() -> None:
    ours = spec("cron", {"hour": 3}, retries=2)
    theirs = pb.JobSpec()
    theirs.CopyFrom(ours)
    theirs.name = "x"
    theirs.time_zone = "UTC"
    theirs.policies.retries.initial_backoff.FromTimedelta(timedelta(seconds=1))
    assert same_spec(ours, theirs)
    theirs.schedule.calendar.hour = "4"
    assert not same_spec(ours, theirs)


class FakeError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_errors_carry_the_field_path() -> None:
    assert split_field("job.schedule.cron: field 3 (day of month): 32 is out of range 1-31") == (
        "job.schedule.cron",
        "field 3 (day of month): 32 is out of range 1-31",
    )
    assert split_field('job.executor.shell.env["A"]: bad')[0] == 'job.executor.shell.env["A"]'
    e = from_rpc_error(FakeError(grpc.StatusCode.INVALID_ARGUMENT, "job.time_zone: unknown zone"))
    assert isinstance(e, InvalidSchedule) and e.field == "job.time_zone"
    e = from_rpc_error(FakeError(grpc.StatusCode.INVALID_ARGUMENT, "job.labels: too many"))
    assert type(e) is InvalidArgument and e.field == "job.labels"
    assert isinstance(
        from_rpc_error(FakeError(grpc.StatusCode.NOT_FOUND, "no job")), JobLookupError
    )
    assert isinstance(
        from_rpc_error(FakeError(grpc.StatusCode.ALREADY_EXISTS, "exists")), ConflictingIdError
    )
    other = from_rpc_error(FakeError(grpc.StatusCode.INTERNAL, "boom"))
    assert type(other) is SchedulerError and other.field is None and other.message == "boom"


def test_token_never_in_repr() -> None:
    from schedulerd import Client

    c = Client("127.0.0.1:1", token="s3cret-token")
    w = Worker("127.0.0.1:1", queues=["q"], token="s3cret-token")
    assert "s3cret" not in repr(c) and "s3cret" not in repr(w)
    assert "s3cret" not in repr(vars(c)["_ep"].__dict__.get("addresses"))


def test_no_trigger_means_run_once_now() -> None:
    before = datetime.now(UTC)
    s = spec(None, {})
    assert s.schedule.WhichOneof("kind") == "once"
    at = s.schedule.once.ToDatetime(tzinfo=UTC)
    assert before < at <= datetime.now(UTC) + timedelta(seconds=2)


def test_after_and_exclude_calendars_build_the_spec() -> None:
    s = spec(after="extract")
    assert s.schedule.after == pb.AfterJob(job_id="extract", on_finished=False)
    s2 = spec(after="etl:extract:finished", exclude_calendars="holidays")
    assert s2.schedule.after == pb.AfterJob(job_id="etl:extract", on_finished=True)
    assert list(s2.exclude_calendars) == ["holidays"]  # one name, not its letters
    s3 = spec("after", {"upstream": "extract", "on": "finished"}, exclude_calendars=["a", "b"])
    assert s3.schedule.after.on_finished and list(s3.exclude_calendars) == ["a", "b"]
    assert not same_spec(s2, s3)
    with pytest.raises(InvalidSchedule) as e:
        spec("interval", {"minutes": 5}, after="extract")
    assert e.value.field == "after"
    with pytest.raises(InvalidSchedule) as e2:
        spec("after", {"upstream": "extract", "on": "failed"})
    assert e2.value.field == "after"
    with pytest.raises(InvalidArgument) as e3:
        spec("cron", {"hour": 3}, exclude_calendars=["ok", 7])
    assert e3.value.field == "exclude_calendars"


def test_calendar_errors_map_to_calendar_exceptions() -> None:
    from schedulerd import CalendarInUseError, CalendarLookupError, VersionConflict
    from schedulerd.errors import from_calendar_rpc_error

    class Err(grpc.RpcError):
        def __init__(self, code: grpc.StatusCode, details: str) -> None:
            self._code, self._details = code, details

        def code(self) -> grpc.StatusCode:
            return self._code

        def details(self) -> str:
            return self._details

    missing = from_calendar_rpc_error(Err(grpc.StatusCode.NOT_FOUND, 'calendar "x" not found'))
    assert isinstance(missing, CalendarLookupError) and isinstance(missing, KeyError)
    assert str(missing) == 'calendar "x" not found'
    used = Err(grpc.StatusCode.FAILED_PRECONDITION, 'calendar "x" is used by jobs a')
    assert isinstance(from_calendar_rpc_error(used, deleting=True), CalendarInUseError)
    assert type(from_calendar_rpc_error(used)) is VersionConflict
    bad = from_calendar_rpc_error(Err(grpc.StatusCode.INVALID_ARGUMENT, "calendar.dates[0]: bad"))
    assert type(bad) is InvalidArgument and bad.field == "calendar.dates[0]"
