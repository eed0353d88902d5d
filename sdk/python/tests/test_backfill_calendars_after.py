"""Backfills, exclusion calendars and dependent jobs against a real 3-node cluster.

The jobs run ``record`` in a worker process of the test's own
(tests/worker_proc.py), which writes one row per occurrence into a SQLite
table through schedulerd.fencing.sqlite: "ran exactly once" is read there
and in the cluster's runs.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import grpc
import pytest

import schedulerd
from cluster import PYTHON, Cluster, tail, wait_for
from schedulerd._convert import rfc3339

pytestmark = [pytest.mark.cluster, pytest.mark.worker]

HERE = Path(__file__).resolve().parent


@dataclass
class Sink:
    """A worker serving ``queue`` (function ``record``) and the table it writes."""

    queue: str
    db: Path
    log: Path

    @property
    def func(self) -> str:
        return f"{self.queue}:record"

    def effects(self, job_id: str) -> list[tuple[str, int, float]]:
        """(occurrence id, token, time) of the job's rows, in commit order."""
        conn = sqlite3.connect(self.db, timeout=60)
        try:
            return list(
                conn.execute(
                    "SELECT occurrence_id, token, at FROM effects WHERE job_id = ? ORDER BY rowid",
                    (job_id,),
                )
            )
        except sqlite3.OperationalError:  # the worker has not made the table yet
            return []
        finally:
            conn.close()


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Iterator[schedulerd.Client]:
    with cluster.client() as c:
        yield c


@pytest.fixture
def sink(cluster: Cluster, client: schedulerd.Client, tmp_path: Path) -> Iterator[Sink]:
    """A worker process of this test's own, killed when the test ends."""
    s = Sink(f"q-bca-{uuid.uuid4().hex[:6]}", tmp_path / "sink.db", tmp_path / "worker.log")
    wid = f"w-{s.queue}"
    p = cluster.spawn(
        [PYTHON, str(HERE / "worker_proc.py"), cluster.address, s.queue, str(s.db), wid, "sync"],
        s.log,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        try:
            wait_for(
                lambda: any(w.worker_id == wid for w in client.workers()),
                30,
                f"worker {wid} in ListWorkers",
            )
        except TimeoutError as e:
            raise TimeoutError(f"{e}; exit code {p.poll()}; log:\n{tail(s.log)}") from None
        yield s
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


def _ended(client: schedulerd.Client, job_id: str, n: int) -> list[schedulerd.Run]:
    """The job's runs once there are ``n`` and none is armed or running; else []."""
    runs = client.runs(job_id)
    done = len(runs) == n and all(r.state not in ("armed", "running") for r in runs)
    return runs if done else []


# ------------------------------------------------------------------ backfill


def test_backfill_runs_each_past_instant_once_and_a_repeat_runs_nothing(
    client: schedulerd.Client, sink: Sink, job_id: str
) -> None:
    client.add_job(job_id, sink.func, "interval", minutes=10)
    # Five instants two hours ago (the interval is anchored at the epoch: :00, :10, ...).
    now = datetime.now(UTC)
    start = (now - timedelta(hours=2)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 10)
    end = start + timedelta(minutes=40)
    instants = [start + timedelta(minutes=10 * i) for i in range(5)]
    want = [f"{job_id}@{rfc3339(t)}" for t in instants]

    assert client.backfill_job(job_id, start, end) == schedulerd.BackfillResult(5, 0)
    runs = wait_for(lambda: _ended(client, job_id, 5), 60, "the 5 backfilled runs to end")
    assert [r.occurrence_id for r in runs] == want
    assert [r.scheduled_at for r in runs] == instants
    assert all(r.state == "succeeded" and r.attempt == 1 for r in runs), runs
    rows = sink.effects(job_id)
    assert sorted(r[0] for r in rows) == want, "one effect per instant, each once"
    tokens = {r.occurrence_id: r.fencing_token for r in runs}
    assert {r[0]: r[1] for r in rows} == tokens

    # The same range again (as a string, and as naive datetimes read in UTC): nothing new.
    assert client.backfill_job(job_id, rfc3339(start), rfc3339(end)) == (
        schedulerd.BackfillResult(0, 5)
    )
    naive = client.backfill_job(
        job_id, start.replace(tzinfo=None), end.replace(tzinfo=None), timezone="UTC"
    )
    assert naive == schedulerd.BackfillResult(0, 5)
    # One instant earlier: only that one is new.
    earlier = start - timedelta(minutes=10)
    assert client.backfill_job(job_id, earlier, end) == schedulerd.BackfillResult(1, 5)
    runs = wait_for(lambda: _ended(client, job_id, 6), 60, "the 6th backfilled run to end")
    assert [r.occurrence_id for r in runs] == [f"{job_id}@{rfc3339(earlier)}", *want]
    assert all(r.state == "succeeded" and r.attempt == 1 for r in runs), runs
    assert {r.occurrence_id: r.fencing_token for r in runs[1:]} == tokens, "nothing re-ran"
    rows = sink.effects(job_id)
    assert Counter(r[0] for r in rows) == Counter(r.occurrence_id for r in runs)
    client.remove_job(job_id)


# ------------------------------------------------------------------ exclusion calendars


def test_a_job_excluding_a_calendar_that_excludes_today_never_fires(
    client: schedulerd.Client, cluster: Cluster, clusterctl_bin: str, sink: Sink, job_id: str
) -> None:
    today = datetime.now(UTC).date()
    name = f"off-{job_id[-6:]}"
    # Yesterday to tomorrow: today stays excluded even if the test crosses midnight.
    cal = client.add_calendar(
        name,
        ranges=[(today - timedelta(days=1), today + timedelta(days=1))],
        dates=[date(2031, 12, 25)],
        crons=["0 0 * * 6,0"],
        description="the test's days off",
    )
    assert (cal.name, cal.version, cal.description) == (name, 1, "the test's days off")
    assert cal.ranges == ((str(today - timedelta(days=1)), str(today + timedelta(days=1))),)
    assert cal.dates == ("2031-12-25",) and cal.crons == ("0 0 * * 6,0",)
    assert name in [c.name for c in client.get_calendars()]
    shown = cluster.clusterctl("calendar", "get", name)
    assert (shown["name"], shown["version"], shown["dates"]) == (name, 1, ["2031-12-25"])

    excluded_id, control_id = f"{job_id}-off", f"{job_id}-on"
    excluded = client.add_job(excluded_id, sink.func, "interval", seconds=1, exclude_calendars=name)
    assert excluded.exclude_calendars == (name,)
    # Its next instant is after the excluded days (and after a weekend that follows them).
    after_range = datetime.combine(today + timedelta(days=2), datetime.min.time(), UTC)
    assert excluded.next_run_time is not None and excluded.next_run_time >= after_range
    assert client.get_calendar(name).used_by == (excluded_id,)

    # The same every-second job without the calendar runs: wait for three of its
    # runs; the excluded job has none by then.
    client.add_job(control_id, sink.func, "interval", seconds=1)
    wait_for(
        lambda: sum(r.state == "succeeded" for r in client.runs(control_id)) >= 3,
        30,
        "3 succeeded runs of the job without the calendar",
    )
    assert client.runs(excluded_id) == []
    assert sink.effects(excluded_id) == []
    assert len(sink.effects(control_id)) >= 3

    # A calendar a job names cannot be deleted: the error names the job, nothing changes.
    with pytest.raises(schedulerd.CalendarInUseError) as e:
        client.remove_calendar(name)
    assert excluded_id in e.value.message
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert client.get_calendar(name).version == 1

    client.remove_job(excluded_id)
    client.remove_job(control_id)
    client.remove_calendar(name)
    with pytest.raises(schedulerd.CalendarLookupError):
        client.get_calendar(name)


# ------------------------------------------------------------------ dependent jobs


def test_a_dependent_job_runs_after_its_upstream(
    client: schedulerd.Client, sink: Sink, job_id: str
) -> None:
    up_id, on_success, on_end = f"{job_id}-up", f"{job_id}-ok", f"{job_id}-end"
    up = client.add_job(up_id, sink.func, "date", run_date=datetime.now(UTC) + timedelta(seconds=2))
    dep = client.add_job(on_success, sink.func, after=up_id)
    assert dep.after == f"{up_id}:succeeded" and dep.schedule == f"after {up_id}:succeeded"
    assert dep.next_run_time is None  # no instants of its own
    client.add_job(on_end, sink.func, after=schedulerd.AfterTrigger(up_id, on="finished"))

    [up_run] = wait_for(lambda: _ended(client, up_id, 1), 30, "the upstream's run to end")
    assert up_run.state == "succeeded" and up_run.scheduled_at == up.next_run_time
    assert up_run.finished_at is not None
    for dep_id in (on_success, on_end):
        [run] = wait_for(lambda d=dep_id: _ended(client, d, 1), 30, f"{dep_id}'s run to end")
        # Its occurrence is the upstream's instant, and it started once that had ended.
        assert run.state == "succeeded", run
        assert run.occurrence_id == f"{dep_id}@{rfc3339(up_run.scheduled_at)}"
        assert run.started_at is not None and run.started_at >= up_run.finished_at
        [(occ, _, at)] = sink.effects(dep_id)
        [(_, _, up_at)] = sink.effects(up_id)
        assert occ == run.occurrence_id and at > up_at


def test_a_failed_upstream_runs_only_the_job_that_runs_on_any_end(
    client: schedulerd.Client, sink: Sink, job_id: str
) -> None:
    up_id, on_success, on_end = f"{job_id}-up", f"{job_id}-ok", f"{job_id}-end"
    client.add_job(
        up_id,
        sink.func,
        "date",
        run_date=datetime.now(UTC) + timedelta(seconds=2),
        args={"fail": True},
    )
    client.add_job(on_success, sink.func, after=up_id)
    client.add_job(on_end, sink.func, after=f"{up_id}:finished")
    [up_run] = wait_for(lambda: _ended(client, up_id, 1), 30, "the upstream's run to end")
    assert up_run.state == "failed" and "fails on purpose" in up_run.output_tail
    [run] = wait_for(lambda: _ended(client, on_end, 1), 30, f"{on_end}'s run to end")
    assert run.state == "succeeded"
    assert run.occurrence_id == f"{on_end}@{rfc3339(up_run.scheduled_at)}"
    # Both dependents are judged when the upstream's end is applied: the one
    # that waits for a success got nothing then, and has nothing now.
    assert client.runs(on_success) == []
    assert sink.effects(on_success) == [] and sink.effects(up_id) == []


# ------------------------------------------------------------------ bad input


def _state(client: schedulerd.Client, job_id: str) -> tuple[object, ...]:
    """The jobs and calendars with their versions, and the job's runs."""
    return (
        [(j.id, j.version) for j in client.get_jobs()],
        [(c.name, c.version) for c in client.get_calendars()],
        [(r.occurrence_id, r.state) for r in client.runs(job_id)],
    )


def test_bad_input_raises_with_the_field_and_changes_nothing(
    client: schedulerd.Client, job_id: str
) -> None:
    client.add_job(job_id, "nobody-serves-this:f", "interval", minutes=10, next_run_time=None)
    cal = f"cal-{job_id[-6:]}"
    client.add_calendar(cal, dates=["2031-01-01"])
    before = _state(client, job_id)
    new_id = f"{job_id}-new"

    with pytest.raises(schedulerd.InvalidArgument) as e1:
        client.add_job(new_id, "q:f", "cron", hour=3, exclude_calendars=[cal, "no-such-calendar"])
    assert e1.value.field == "job.exclude_calendars[1]" and "no-such-calendar" in e1.value.message
    assert e1.value.code == grpc.StatusCode.INVALID_ARGUMENT

    with pytest.raises(schedulerd.InvalidSchedule) as e2:
        client.add_job(new_id, "q:f", after="no-such-upstream")
    assert e2.value.field == "job.schedule.after.job_id"
    assert "no-such-upstream" in e2.value.message
    with pytest.raises(schedulerd.InvalidSchedule) as e3:
        client.add_job(job_id, "q:f", after=job_id, replace_existing=True)
    assert e3.value.field == "job.schedule.after.job_id" and "itself" in e3.value.message

    t = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(schedulerd.InvalidArgument) as e4:
        client.backfill_job(job_id, t, t - timedelta(minutes=30))  # end before start
    assert e4.value.field == "from" and e4.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(schedulerd.InvalidArgument) as e5:
        client.backfill_job(job_id, t, datetime.now(UTC) + timedelta(hours=1))
    assert e5.value.field == "to" and "future" in e5.value.message
    with pytest.raises(schedulerd.InvalidArgument) as e6:
        client.backfill_job(job_id, "yesterday", t)
    assert e6.value.field == "from" and e6.value.code is None  # judged before any call
    with pytest.raises(schedulerd.JobLookupError):
        client.backfill_job(new_id, t - timedelta(minutes=30), t)

    with pytest.raises(schedulerd.CalendarLookupError) as e7:
        client.get_calendar("no-such-calendar")
    assert isinstance(e7.value, KeyError) and e7.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(schedulerd.CalendarLookupError):
        client.remove_calendar("no-such-calendar")
    with pytest.raises(schedulerd.ConflictingIdError):
        client.add_calendar(cal, dates=["2031-01-02"])
    with pytest.raises(schedulerd.InvalidArgument) as e8:
        client.add_calendar(f"{cal}-bad", dates=["2031-02-30"])
    assert e8.value.field == "calendar.dates[0]"
    with pytest.raises(schedulerd.InvalidArgument) as e9:
        client.add_calendar(f"{cal}-bad", crons=["0 0 32 * *"], timezone="Mars/Olympus_Mons")
    assert e9.value.field is not None and e9.value.field.startswith("calendar.")
    with pytest.raises(schedulerd.VersionConflict):
        client.add_calendar(cal, dates=["2031-01-02"], replace_existing=True, expected_version=7)

    assert _state(client, job_id) == before
    assert client.get_job_or_none(new_id) is None
    assert client.get_calendar(cal).dates == ("2031-01-01",)
    client.remove_job(job_id)
    client.remove_calendar(cal)


def test_calendar_replace_moves_its_jobs(client: schedulerd.Client, job_id: str) -> None:
    """Replacing a calendar moves the next fire time of the jobs that name it at once."""
    name = f"cal-{job_id[-6:]}"
    client.add_calendar(name, dates=["2030-06-03"])
    job = client.add_job(
        job_id,
        "q:f",
        "cron",
        hour=10,
        start_date=datetime(2030, 6, 1, tzinfo=UTC),
        exclude_calendars=[name],
    )
    assert job.next_run_time == datetime(2030, 6, 1, 10, tzinfo=UTC)
    same = client.add_calendar(name, dates=["2030-06-03"], replace_existing=True)
    assert same.version == 1  # the same spec: no new version
    moved = client.add_calendar(name, ranges=[("2030-06-01", "2030-06-02")], replace_existing=True)
    assert moved.version == 2 and moved.ranges == (("2030-06-01", "2030-06-02"),)
    assert client.get_job(job_id).next_run_time == datetime(2030, 6, 3, 10, tzinfo=UTC)
    client.remove_job(job_id)
    client.remove_calendar(name)
