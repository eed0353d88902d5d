"""The synchronous client: jobs, runs, events and cluster status."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, tzinfo
from typing import Any, Literal

import grpc

from . import _convert as cv
from ._pb import cpb, cpb_grpc, pb, pb_grpc, wpb, wpb_grpc
from ._transport import Endpoints
from .errors import (
    ConflictingIdError,
    InvalidArgument,
    InvalidSchedule,
    JobLookupError,
    SchedulerError,
    UnavailableError,
    from_calendar_rpc_error,
    from_rpc_error,
)
from .jobspec import NOT_GIVEN, NotGiven, build_spec, same_spec
from .models import BackfillResult, Calendar, ClusterStatus, Event, Job, Run, WorkerInfo
from .triggers import AfterTrigger, BaseTrigger

__all__ = ["Client", "EventStream"]

_RUN_STATES = {
    n.removeprefix("RUN_STATE_").lower(): v
    for n, v in pb.RunState.items()
    if n != "RUN_STATE_UNSPECIFIED"
}


class EventStream:
    """An iterator over ``WatchEvents``; ``close()`` (or leaving a ``with``) ends it."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        try:
            return Event.from_proto(next(self._call))
        except grpc.RpcError as err:
            if err.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise StopIteration from None
            raise from_rpc_error(err) from None

    def close(self) -> None:
        self._call.cancel()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Client:
    """A client of the cluster, shaped like APScheduler's scheduler.

    ``addresses`` is ``"host:port,host:port"`` or a list; any member will do
    (followers forward writes). On UNAVAILABLE a call follows the leader hint
    (``x-leader-addr``) or tries the next address, with jittered backoff,
    for up to ``retry_window`` seconds; ``timeout`` bounds each try. The
    token, when given, is sent as ``authorization: Bearer ...`` and never
    appears in a message or log.
    """

    def __init__(
        self,
        addresses: str | Sequence[str],
        token: str | None = None,
        timeout: float = 10.0,
        *,
        retry_window: float = 30.0,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self._ep = Endpoints(addresses, token, credentials, timeout, retry_window)

    def __repr__(self) -> str:
        return f"Client({','.join(self._ep.addresses)!r})"

    @property
    def addresses(self) -> list[str]:
        return list(self._ep.addresses)

    @property
    def last_address(self) -> str | None:
        """The address that answered the last call."""
        return self._ep.last_address

    def close(self) -> None:
        self._ep.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ plumbing

    def _jobs(self, what: str, fn: Callable[[_Bound, int], Any], **kw: Any) -> Any:
        md = self._ep.metadata

        def call(ch: grpc.Channel, attempt: int, timeout: float) -> Any:
            return fn(_Bound(pb_grpc.JobServiceStub(ch), md, timeout), attempt)

        return self._ep.call(what, call, **kw)

    def _cals(self, what: str, fn: Callable[[_Bound, int], Any], deleting: bool = False) -> Any:
        md = self._ep.metadata

        def call(ch: grpc.Channel, attempt: int, timeout: float) -> Any:
            return fn(_Bound(cpb_grpc.CalendarServiceStub(ch), md, timeout), attempt)

        def errors(err: grpc.RpcError) -> SchedulerError:
            return from_calendar_rpc_error(err, deleting=deleting)

        return self._ep.call(what, call, errors=errors)

    # ------------------------------------------------------------ jobs

    def add_job(
        self,
        id: str | None,
        func: str | Callable[..., Any],
        trigger: str | BaseTrigger | None = None,
        *,
        args: Any = None,
        name: str | None = None,
        misfire_grace_time: cv.Seconds | NotGiven | None = NOT_GIVEN,
        coalesce: bool | str | NotGiven = NOT_GIVEN,
        max_instances: int | NotGiven = NOT_GIVEN,
        overlap: str | None = None,
        replace_existing: bool = False,
        next_run_time: datetime | str | NotGiven | None = NOT_GIVEN,
        timezone: str | tzinfo | NotGiven | None = NOT_GIVEN,
        labels: Mapping[str, str] | None = None,
        node_selector: Mapping[str, str] | None = None,
        retries: int = 0,
        retry_backoff: cv.Seconds | None = None,
        retry_max_backoff: cv.Seconds | None = None,
        retry_multiplier: float | None = None,
        timeout: cv.Seconds | None = None,
        max_runs: int = 0,
        pause_after_failures: int = 0,
        queue: str | None = None,
        exclude_calendars: str | Sequence[str] | None = None,
        after: str | AfterTrigger | None = None,
        **trigger_args: Any,
    ) -> Job:
        """Registers a job that calls a worker function on a schedule.

        - ``func``: ``"QUEUE:FUNCTION"``, or a function registered with
          ``@worker.function(name)`` (its worker's first queue, or ``queue=``).
        - ``trigger``: ``"cron"`` (APScheduler's fields, or ``crontab="*/5 * * * *"``),
          ``"interval"`` (weeks/days/hours/minutes/seconds), ``"date"``
          (``run_date``), ``"human"`` (``phrase="every 10 seconds"``), or a
          trigger object; its keywords go in ``**trigger_args``
          (``start_date``, ``end_date``, ``jitter``, ``timezone`` too).
          No trigger: run once, now.
        - ``args``: any JSON value; ``ctx.args`` in the function. Raises
          :class:`NotSerializableError` (field ``args``) before any call otherwise.
        - ``misfire_grace_time``: seconds an occurrence may still start late;
          None or not given: no limit.
        - ``coalesce``: True maps to COALESCE_LATEST (run the latest missed
          occurrence, record the rest as missed), False to COALESCE_ALL (run
          every missed occurrence within the grace); also "earliest",
          "latest", "all". Not given: the cluster's default (latest).
        - ``max_instances``: OVERLAP_ALLOW with that many runs at once;
          ``overlap`` is "allow", "skip", "buffer_one" or "replace".
        - ``replace_existing``: replace a job with the same id (a new
          version); otherwise a duplicate id raises :class:`ConflictingIdError`.
        - ``next_run_time=None`` creates the job paused (APScheduler's
          convention); a datetime is its start bound (nothing fires before).
        - ``retries``/``retry_backoff``/``retry_max_backoff``/``retry_multiplier``,
          ``timeout`` (seconds), ``max_runs`` (run N times, then finish),
          ``pause_after_failures`` (pause after N failed occurrences in a
          row; Airflow's ``max_consecutive_failed_dag_runs``),
          ``labels``, ``node_selector``: the cluster's policies.
        - ``exclude_calendars``: names of exclusion calendars (see
          :meth:`add_calendar`, at most 8): no occurrence on the days they
          exclude. An unknown name raises :class:`InvalidArgument` on
          ``job.exclude_calendars[i]``.
        - ``after``: instead of a trigger, ``"JOB"`` (run once after each
          occurrence of JOB that succeeds) or ``"JOB:finished"`` (after each
          one that ends in any way); see :class:`AfterTrigger`. An unknown
          upstream raises :class:`InvalidSchedule` on ``job.schedule.after.job_id``.

        Retries after an unknown outcome are idempotent: a retried create
        keeps what the first try may have written, if it is this same spec.
        """
        spec = pb.JobSpec(id=id or uuid.uuid4().hex)
        given: dict[str, Any] = {
            "func": func,
            "args": args,
            "name": name,
            "misfire_grace_time": misfire_grace_time,
            "coalesce": coalesce,
            "max_instances": max_instances,
            "next_run_time": next_run_time,
            "overlap": overlap,
            "labels": labels,
            "node_selector": node_selector,
            "retries": retries or None,
            "retry_backoff": retry_backoff,
            "retry_max_backoff": retry_max_backoff,
            "retry_multiplier": retry_multiplier,
            "timeout": timeout,
            "max_runs": max_runs or None,
            "pause_after_failures": pause_after_failures or None,
            "queue": queue,
            "exclude_calendars": exclude_calendars,
            "after": after,
        }
        # NOT_GIVEN is "not passed"; None means "not passed" too, except where
        # APScheduler gives None a meaning (next_run_time, misfire_grace_time).
        keeps_none = ("next_run_time", "misfire_grace_time", "args")
        opts = {
            k: v
            for k, v in given.items()
            if not isinstance(v, NotGiven) and (v is not None or k in keeps_none)
        }
        build_spec(spec, opts, trigger, trigger_args, timezone)
        on_conflict = pb.ON_CONFLICT_REPLACE if replace_existing else pb.ON_CONFLICT_FAIL
        return Job.from_proto(self._create(spec, on_conflict))

    def _create(self, spec: pb.JobSpec, on_conflict: pb.OnConflict) -> pb.Job:
        def create(stub: _Bound, attempt: int) -> pb.Job:
            oc = on_conflict
            if attempt > 0 and on_conflict == pb.ON_CONFLICT_FAIL:
                # An earlier try may have been applied: keep what is there
                # and check that it is ours.
                oc = pb.ON_CONFLICT_KEEP
            job: pb.Job = stub("CreateJob", pb.CreateJobRequest(job=spec, on_conflict=oc))
            if oc != on_conflict and not same_spec(spec, job.spec):
                raise ConflictingIdError(
                    f"a different job with id {spec.id!r} exists",
                    "job.id",
                    grpc.StatusCode.ALREADY_EXISTS,
                )
            return job

        result: pb.Job = self._jobs("CreateJob", create)
        return result

    def declare_job(
        self,
        id: str,
        func: str | Callable[..., Any],
        trigger: str | BaseTrigger | None = None,
        **kwargs: Any,
    ) -> tuple[Job, Literal["created", "unchanged", "updated"]]:
        """Registers a job idempotently by id (for jobs declared in code).

        Same spec as the cluster's: nothing changes. A changed spec: an
        update (a new version). Pausing it in the cluster is left alone.
        Takes the keywords of :meth:`add_job`.
        """
        spec = self._build(id, func, trigger, kwargs)
        try:
            current = self._get(id)
        except JobLookupError:
            current = None
        if current is None:
            job = self._create(spec, pb.ON_CONFLICT_KEEP)
            if same_spec(spec, job.spec, ignore_paused=True):
                return Job.from_proto(job), "created"
            current = job
        if same_spec(spec, current.spec, ignore_paused=True):
            return Job.from_proto(current), "unchanged"
        spec.paused = current.spec.paused
        updated = self._update(spec, current.version)
        return Job.from_proto(updated), "updated"

    def _build(
        self,
        id: str,
        func: str | Callable[..., Any],
        trigger: str | BaseTrigger | None,
        kwargs: Mapping[str, Any],
    ) -> pb.JobSpec:
        from .jobspec import JOB_KEYWORDS

        kw = dict(kwargs)
        kw.pop("replace_existing", None)
        timezone = kw.pop("timezone", NOT_GIVEN)
        opts = {k: v for k, v in kw.items() if k in JOB_KEYWORDS and not isinstance(v, NotGiven)}
        opts["func"] = func
        trig = {k: v for k, v in kw.items() if k not in JOB_KEYWORDS}
        return build_spec(pb.JobSpec(id=id), opts, trigger, trig, timezone)

    def modify_job(self, job_id: str, **changes: Any) -> Job:
        """Changes only the given keywords of :meth:`add_job` (``trigger=`` and its
        keywords too); the update is checked against the version read."""
        trigger = changes.pop("trigger", None)
        timezone = changes.pop("timezone", NOT_GIVEN)
        from .jobspec import JOB_KEYWORDS

        opts = {k: v for k, v in changes.items() if k in JOB_KEYWORDS}
        trig = {k: v for k, v in changes.items() if k not in JOB_KEYWORDS}
        current = self._get(job_id)
        spec = pb.JobSpec()
        spec.CopyFrom(current.spec)
        build_spec(spec, opts, trigger, trig, timezone)
        return Job.from_proto(self._update(spec, current.version))

    def reschedule_job(
        self, job_id: str, trigger: str | BaseTrigger = "date", **trigger_args: Any
    ) -> Job:
        """Gives the job a new trigger (APScheduler's name)."""
        return self.modify_job(job_id, trigger=trigger, **trigger_args)

    def update_job(self, spec: pb.JobSpec, expected_version: int = 0) -> Job:
        """Replaces a job's spec (a raw ``JobSpec``); ``expected_version`` 0 skips the check."""
        return Job.from_proto(self._update(spec, expected_version))

    def _update(self, spec: pb.JobSpec, expected_version: int) -> pb.Job:
        req = pb.UpdateJobRequest(job=spec, expected_version=expected_version)

        def update(stub: _Bound, attempt: int) -> pb.Job:
            try:
                job: pb.Job = stub("UpdateJob", req)
                return job
            except grpc.RpcError as err:
                # A retry after an update that was applied meets the new version.
                if attempt > 0 and err.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    got = self._get(spec.id)
                    if same_spec(spec, got.spec):
                        return got
                raise

        result: pb.Job = self._jobs("UpdateJob", update)
        return result

    def _get(self, job_id: str) -> pb.Job:
        result: pb.Job = self._jobs(
            "GetJob", lambda stub, _a: stub("GetJob", pb.GetJobRequest(id=job_id))
        )
        return result

    def get_job(self, job_id: str) -> Job:
        """The job; raises :class:`JobLookupError` when there is none (APScheduler returns None:
        use ``get_job_or_none``)."""
        return Job.from_proto(self._get(job_id))

    def get_job_or_none(self, job_id: str) -> Job | None:
        try:
            return self.get_job(job_id)
        except JobLookupError:
            return None

    def get_jobs(self, labels: Mapping[str, str] | None = None, page_size: int = 500) -> list[Job]:
        """Every job (or those with all of ``labels``), in id order; pages through the list."""
        out: list[Job] = []
        token = ""
        while True:
            req = pb.ListJobsRequest(
                labels=dict(labels or {}), page_size=page_size, page_token=token
            )
            resp: pb.ListJobsResponse = self._jobs("ListJobs", _unary("ListJobs", req))
            out.extend(Job.from_proto(j) for j in resp.jobs)
            token = resp.next_page_token
            if not token:
                return out

    def _pause(self, method: str, req: pb.PauseRequest) -> int:
        resp: pb.PauseResponse = self._jobs(method, lambda stub, _a: stub(method, req))
        return resp.affected

    def pause_job(self, job_id: str) -> Job:
        """Pauses one job (nothing fires until resumed); returns it."""
        self._pause("PauseJobs", pb.PauseRequest(job_id=job_id))
        return self.get_job(job_id)

    def resume_job(self, job_id: str) -> Job:
        """Resumes one job; returns it."""
        self._pause("ResumeJobs", pb.PauseRequest(job_id=job_id))
        return self.get_job(job_id)

    def pause_jobs(self, labels: Mapping[str, str]) -> int:
        """Pauses every job with all of ``labels``; returns how many changed."""
        return self._pause(
            "PauseJobs", pb.PauseRequest(labels=pb.LabelSelector(match=dict(labels)))
        )

    def resume_jobs(self, labels: Mapping[str, str]) -> int:
        return self._pause(
            "ResumeJobs", pb.PauseRequest(labels=pb.LabelSelector(match=dict(labels)))
        )

    def pause(self) -> None:
        """Pauses the whole scheduler (APScheduler's ``scheduler.pause()``)."""
        self._pause("PauseJobs", pb.PauseRequest(scheduler=True))

    def resume(self) -> None:
        self._pause("ResumeJobs", pb.PauseRequest(scheduler=True))

    def remove_job(self, job_id: str) -> None:
        """Deletes the job (its armed occurrences are cancelled); :class:`JobLookupError` if none."""

        def delete(stub: _Bound, attempt: int) -> None:
            try:
                stub("DeleteJob", pb.DeleteJobRequest(id=job_id))
            except grpc.RpcError as err:
                if attempt > 0 and err.code() == grpc.StatusCode.NOT_FOUND:
                    return  # an earlier try deleted it
                raise

        self._jobs("DeleteJob", delete)

    def remove_all_jobs(self, labels: Mapping[str, str] | None = None) -> int:
        jobs = self.get_jobs(labels)
        for j in jobs:
            with contextlib.suppress(JobLookupError):
                self.remove_job(j.id)
        return len(jobs)

    def run_job(self, job_id: str) -> Run:
        """Creates an occurrence now, outside the schedule.

        Not idempotent: it is retried only when the cluster said that nothing
        was written (a deadline or an "already committed" answer is not retried).
        """

        def safe_to_retry(err: grpc.RpcError) -> bool:
            if err.code() != grpc.StatusCode.UNAVAILABLE:
                return False
            return "committed" not in (err.details() or "")

        r: pb.Run = self._jobs(
            "RunJobNow",
            lambda stub, _a: stub("RunJobNow", pb.RunJobNowRequest(id=job_id)),
            retry=safe_to_retry,
        )
        return Run.from_proto(r)

    def backfill_job(
        self,
        job_id: str,
        start: datetime | str,
        end: datetime | str,
        *,
        timezone: str | tzinfo | None = None,
    ) -> BackfillResult:
        """Runs the job's instants in the past range ``[start, end]`` (both included), once each.

        The occurrences are created oldest first, under the job's policies
        (what may not run at once waits its turn; nothing is skipped for
        misfire). An instant that has an occurrence already is not run
        again, so a backfill repeated, or over instants that ran, runs nothing
        twice: ``existing`` counts those. At most 1,000 instants per call;
        backfilled runs do not count towards ``max_runs``. Like
        ``clusterctl job backfill ID --from START --to END``.

        Naive datetimes (and ISO strings without an offset) are read in
        ``timezone`` (default UTC). Raises :class:`JobLookupError` for an
        unknown job, and :class:`InvalidArgument` with the request's field
        (``from`` for ``start``, ``to`` for ``end``) when ``end`` is before
        ``start``, in the future, or the range holds too many instants.
        Safe to retry: a retried call that meets its own first try reports
        those occurrences as ``existing``.
        """
        zone = cv.zone_name(timezone)
        req = pb.BackfillJobRequest(id=job_id)
        getattr(req, "from").CopyFrom(_instant(start, "from", zone))
        req.to.CopyFrom(_instant(end, "to", zone))
        resp: pb.BackfillJobResponse = self._jobs("BackfillJob", _unary("BackfillJob", req))
        return BackfillResult(created=resp.created, existing=resp.existing)

    # ------------------------------------------------------------ calendars

    def add_calendar(
        self,
        name: str,
        *,
        dates: Iterable[date | str] = (),
        ranges: Iterable[tuple[date | str, date | str]] = (),
        crons: Iterable[str] = (),
        timezone: str | tzinfo | None = None,
        description: str = "",
        replace_existing: bool = False,
        expected_version: int = 0,
    ) -> Calendar:
        """Creates an exclusion calendar: days on which the jobs that name it do not fire.

        - ``dates``: days (``date`` or ``"YYYY-MM-DD"``), at most 1000.
        - ``ranges``: ``(first, last)`` spans of days, both included, at most 100.
        - ``crons``: a day on which one of these fires is excluded
          (``"0 0 * * 6,0"``: Saturdays and Sundays), at most 16.
        - ``timezone``: the IANA zone its days are read in (default UTC).
        - ``replace_existing``: replace a calendar of that name (the jobs that
          name it move to the new days at once); otherwise an existing name
          raises :class:`ConflictingIdError`. ``expected_version`` (with
          ``replace_existing``): refuse with :class:`VersionConflict` unless
          the calendar is at that version.

        Bad input raises :class:`InvalidArgument` with the server's field path
        (``calendar.dates[0]``, ``calendar.time_zone``, ...). Jobs name it with
        ``add_job(..., exclude_calendars=[name])``. Like ``clusterctl calendar add``.
        Retries after an unknown outcome are idempotent.
        """
        spec = cpb.CalendarSpec(
            name=name, description=description, time_zone=cv.zone_name(timezone)
        )
        spec.dates.extend(_day(d, f"calendar.dates[{i}]") for i, d in enumerate(dates))
        for i, r in enumerate(ranges):
            if not isinstance(r, tuple | list) or len(r) != 2:
                raise InvalidArgument(f"{r!r} is not a (first, last) pair", f"calendar.ranges[{i}]")
            rng = spec.ranges.add()
            setattr(rng, "from", _day(r[0], f"calendar.ranges[{i}].from"))
            rng.to = _day(r[1], f"calendar.ranges[{i}].to")
        for i, c in enumerate(crons):
            if not isinstance(c, str):
                raise InvalidArgument(f"{c!r} is not a cron string", f"calendar.crons[{i}]")
            spec.crons.append(c)
        create_only = not replace_existing
        if create_only and expected_version:
            raise InvalidArgument("only applies with replace_existing=True", "expected_version")

        def put(stub: _Bound, attempt: int) -> cpb.Calendar:
            req = cpb.PutCalendarRequest(
                calendar=spec, expected_version=expected_version, create_only=create_only
            )
            try:
                c: cpb.Calendar = stub("PutCalendar", req)
                return c
            except grpc.RpcError as err:
                # An earlier try may have been applied: keep it if it is ours.
                if attempt > 0 and err.code() in (
                    grpc.StatusCode.ALREADY_EXISTS,
                    grpc.StatusCode.FAILED_PRECONDITION,
                ):
                    got: cpb.Calendar = stub("GetCalendar", cpb.GetCalendarRequest(name=name))
                    if _same_calendar(spec, got.spec):
                        return got
                raise

        return Calendar.from_proto(self._cals("PutCalendar", put))

    def get_calendar(self, name: str) -> Calendar:
        """The calendar, with the jobs that name it (``used_by``);
        :class:`CalendarLookupError` when there is none."""
        req = cpb.GetCalendarRequest(name=name)
        return Calendar.from_proto(self._cals("GetCalendar", _unary("GetCalendar", req)))

    def get_calendars(self) -> list[Calendar]:
        """Every calendar, in name order (``used_by`` is left empty here)."""
        resp: cpb.ListCalendarsResponse = self._cals(
            "ListCalendars", _unary("ListCalendars", cpb.ListCalendarsRequest())
        )
        return [Calendar.from_proto(c) for c in resp.calendars]

    def remove_calendar(self, name: str) -> None:
        """Deletes a calendar. :class:`CalendarInUseError` (naming the jobs) while a job
        names it; :class:`CalendarLookupError` when there is none."""

        def delete(stub: _Bound, attempt: int) -> None:
            try:
                stub("DeleteCalendar", cpb.DeleteCalendarRequest(name=name))
            except grpc.RpcError as err:
                if attempt > 0 and err.code() == grpc.StatusCode.NOT_FOUND:
                    return  # an earlier try deleted it
                raise

        self._cals("DeleteCalendar", delete, deleting=True)

    # ------------------------------------------------------------ runs, events

    def runs(
        self,
        job_id: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        state: str | None = None,
        limit: int = 0,
    ) -> list[Run]:
        """Occurrences with their latest attempt, in (scheduled_at, job_id) order.

        ``state`` is one of armed, running, succeeded, failed, timed_out,
        cancelled, missed, skipped.
        """
        req = pb.ListRunsRequest(job_id=job_id or "", limit=limit)
        if since is not None:
            req.since.CopyFrom(cv.timestamp(since, "since"))
        if until is not None:
            req.until.CopyFrom(cv.timestamp(until, "until"))
        if state is not None:
            if state not in _RUN_STATES:
                raise SchedulerError(f"{state!r} is not one of {sorted(_RUN_STATES)}", "state")
            req.state = _RUN_STATES[state]  # type: ignore[assignment]
        resp: pb.ListRunsResponse = self._jobs("ListRuns", lambda stub, _a: stub("ListRuns", req))
        return [Run.from_proto(r) for r in resp.runs]

    def events(self, job_id: str | None = None, timeout: float | None = None) -> EventStream:
        """Events as the answering member applies them (``WatchEvents``).

        Iterate it; it ends after ``timeout`` seconds when one is given, or on ``close()``.
        """
        addr = self._ep.addresses[self._ep.current]
        stub = pb_grpc.JobServiceStub(self._ep.channel(addr))
        call = stub.WatchEvents(
            pb.WatchEventsRequest(job_id=job_id or ""), timeout=timeout, metadata=self._ep.metadata
        )
        return EventStream(call)

    # ------------------------------------------------------------ cluster

    def status(self) -> ClusterStatus:
        """Members, leader and term (``clusterctl status``); answers even without a leader."""
        md = self._ep.metadata

        def status(ch: grpc.Channel, _a: int, timeout: float) -> pb.ClusterStatus:
            s: pb.ClusterStatus = pb_grpc.ClusterServiceStub(ch).Status(
                pb.StatusRequest(), timeout=timeout, metadata=md
            )
            return s

        return ClusterStatus.from_proto(self._ep.call("Status", status))

    def wait_ready(self, voters: int = 1, timeout: float = 30.0) -> ClusterStatus:
        """Polls ``status()`` until a leader is known, ``voters`` voters exist and
        no membership change is in flight (a joint configuration tolerates only
        what the old voters tolerate)."""
        deadline = time.monotonic() + timeout
        last: ClusterStatus | str = "no answer yet"
        while True:
            try:
                st = self.status()
                last = st
                if (
                    st.leader is not None
                    and not st.membership_changing
                    and sum(m.voter for m in st.members) >= voters
                ):
                    return st
            except SchedulerError as e:
                last = str(e)
            if time.monotonic() >= deadline:
                raise UnavailableError(
                    f"waited {timeout:.0f} s for a leader, {voters} voters and no membership "
                    f"change in flight; last status: {last}"
                )
            time.sleep(0.1)

    def workers(self) -> list[WorkerInfo]:
        """Every worker connected to any member."""
        md = self._ep.metadata

        def list_workers(ch: grpc.Channel, _a: int, timeout: float) -> wpb.ListWorkersResponse:
            r: wpb.ListWorkersResponse = wpb_grpc.WorkerServiceStub(ch).ListWorkers(
                wpb.ListWorkersRequest(), timeout=timeout, metadata=md
            )
            return r

        return [
            WorkerInfo.from_proto(w) for w in self._ep.call("ListWorkers", list_workers).workers
        ]


def _instant(value: datetime | str, field: str, zone: str) -> Any:
    """A protobuf Timestamp; a value that is not an instant is an InvalidArgument on ``field``."""
    try:
        return cv.timestamp(value, field, zone)
    except InvalidSchedule as e:
        raise InvalidArgument(e.message, e.field) from None


def _day(value: date | str, field: str) -> str:
    """``YYYY-MM-DD`` for a date (a datetime: its own date); strings go to the cluster as given."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise InvalidArgument(f"{value!r} is not a date or 'YYYY-MM-DD'", field)


def _same_calendar(ours: cpb.CalendarSpec, theirs: cpb.CalendarSpec) -> bool:
    def norm(s: cpb.CalendarSpec) -> cpb.CalendarSpec:
        n = cpb.CalendarSpec()
        n.CopyFrom(s)
        if n.time_zone in ("", "Etc/UTC"):
            n.time_zone = "UTC"
        return n

    return bool(norm(ours) == norm(theirs))


def _unary(method: str, req: Any) -> Callable[[_Bound, int], Any]:
    def call(stub: _Bound, _attempt: int) -> Any:
        return stub(method, req)

    return call


class _Bound:
    """A stub with its metadata and per-try timeout bound: ``stub("GetJob", req)``."""

    def __init__(self, stub: Any, metadata: tuple[tuple[str, str], ...], timeout: float) -> None:
        self._stub = stub
        self._md = metadata
        self._timeout = timeout

    def __call__(self, method: str, request: Any) -> Any:
        return getattr(self._stub, method)(request, timeout=self._timeout, metadata=self._md)
