"""The client half against a real 3-node cluster."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

import schedulerd
from cluster import Cluster, free_port, wait_for
from schedulerd import CronTrigger
from schedulerd._convert import rfc3339, to_timedelta
from schedulerd._pb import pb, pb_grpc
from schedulerd.jobspec import build_spec, same_spec

pytestmark = pytest.mark.cluster

FUTURE = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Iterator[schedulerd.Client]:
    with cluster.client() as c:
        yield c


def test_status_shows_three_voters_and_a_leader(
    client: schedulerd.Client, cluster: Cluster
) -> None:
    st = client.status()
    assert st.leader is not None
    assert sorted(m.id for m in st.members if m.voter) == [1, 2, 3]
    assert st.leader_addr in cluster.addrs
    # The fixture waited for every join to finish.
    assert st.membership_changing is False


# Every trigger and policy keyword: (trigger, keywords, the clusterctl "schedule" text).
CASES: list[tuple[str, Any, dict[str, Any], str | None]] = [
    (
        "design-example",
        "cron",
        dict(
            hour=3,
            minute=0,
            timezone="Europe/Paris",
            args={"region": "eu"},
            misfire_grace_time=30,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        ),
        "calendar",
    ),
    (
        "cron-fields",
        "cron",
        dict(
            year="2026-2035",
            month="jan-jun",
            day="1-20",
            week="*",
            day_of_week="mon-fri",
            second="*/10",
            start_date=datetime(2026, 1, 1, tzinfo=UTC),
            end_date=FUTURE,
            jitter=3,
        ),
        "calendar",
    ),
    ("crontab", "cron", dict(crontab="*/5 * * * *", timezone="America/New_York"), "*/5 * * * *"),
    (
        "from-crontab",
        CronTrigger.from_crontab("0 9 * * 1-5", timezone="Asia/Tokyo"),
        {},
        "0 9 * * 1-5",
    ),
    ("interval", "interval", dict(seconds=10), "interval"),
    (
        "interval-bounds",
        "interval",
        dict(
            weeks=1,
            days=1,
            hours=2,
            minutes=3,
            seconds=4,
            start_date=datetime(2026, 1, 1, 8, tzinfo=UTC),
            end_date=FUTURE,
            jitter=timedelta(seconds=5),
        ),
        "interval",
    ),
    ("date", "date", dict(run_date=FUTURE), f'once "{rfc3339(FUTURE)}"'),
    ("human", "human", dict(phrase="every day at 10:30"), "every day at 10:30"),
    (
        "coalesce-all",
        "interval",
        dict(minutes=5, coalesce=False, misfire_grace_time=None),
        "interval",
    ),
    ("coalesce-earliest", "interval", dict(minutes=5, coalesce="earliest"), "interval"),
    ("overlap-skip", "interval", dict(minutes=5, overlap="skip"), "interval"),
    ("overlap-buffer", "interval", dict(minutes=5, overlap="buffer_one"), "interval"),
    ("overlap-replace", "interval", dict(minutes=5, overlap="replace"), "interval"),
    ("max-instances", "interval", dict(minutes=5, max_instances=4), "interval"),
    (
        "retries-timeout",
        "interval",
        dict(
            minutes=5,
            retries=3,
            retry_backoff=2,
            retry_max_backoff=60,
            retry_multiplier=3.0,
            timeout=90,
            max_runs=10,
            pause_after_failures=3,
        ),
        "interval",
    ),
    ("paused", "interval", dict(minutes=5, next_run_time=None), "interval"),
    (
        "labels-name",
        "interval",
        dict(minutes=5, labels={"team": "data", "tier": "1"}, name="Nice name"),
        "interval",
    ),
    (
        "exclude-calendars",
        "cron",
        dict(hour=9, minute=30, timezone="Europe/Berlin", exclude_calendars=["kw-weekends"]),
        "calendar",
    ),
    ("after", None, dict(after="kw-upstream"), "after kw-upstream:succeeded"),
    ("after-finished", None, dict(after="kw-upstream:finished"), "after kw-upstream:finished"),
]


def _ms(value: Any) -> int | None:
    """Seconds (or a timedelta) as clusterctl's *_ms fields show them."""
    if value is None:
        return None
    return int(to_timedelta(value, "test") / timedelta(milliseconds=1))


def _expected_policies(trigger: Any, kw: dict[str, Any]) -> dict[str, Any]:
    """``clusterctl job get -o json``'s policies for these keywords, with the cluster's
    defaults (coalesce latest, overlap allow with max instances 1, no limits)."""
    coalesce = kw.get("coalesce", "latest")
    overlap = kw.get("overlap", "allow")
    jitter = kw.get("jitter", getattr(trigger, "jitter", None))
    return {
        "misfire_grace_ms": _ms(kw.get("misfire_grace_time")),
        "coalesce": {True: "latest", False: "all"}.get(coalesce, coalesce),
        "overlap": overlap,
        "max_instances": kw.get("max_instances", 1),
        "max_retries": kw.get("retries", 0),
        "timeout_ms": _ms(kw.get("timeout")),
        "jitter_ms": _ms(jitter),
        "max_runs": kw.get("max_runs", 0),
        "pause_after_failures": kw.get("pause_after_failures", 0),
    }


def _bound(trigger: Any, kw: dict[str, Any], name: str) -> str | None:
    value = kw.get(name, getattr(trigger, name, None))
    return None if value is None else rfc3339(value)


@pytest.mark.parametrize(("case", "trigger", "kw", "sched"), CASES, ids=[c[0] for c in CASES])
def test_every_trigger_and_policy_keyword_reaches_the_cluster(
    client: schedulerd.Client,
    cluster: Cluster,
    clusterctl_bin: str,
    job_id: str,
    case: str,
    trigger: Any,
    kw: dict[str, Any],
    sched: str | None,
) -> None:
    for cal in kw.get("exclude_calendars", []):
        client.add_calendar(cal, crons=["0 0 * * 6,0"], replace_existing=True)
    if "after" in kw:
        upstream = kw["after"].split(":")[0]
        client.declare_job(upstream, "reports:build", "interval", minutes=5)
    job = client.add_job(job_id, "reports:build", trigger, **kw)
    assert job.id == job_id and job.func == "reports:build"

    # What the cluster holds is the spec the keywords describe.
    expected = client._build(job_id, "reports:build", trigger, kw)
    held = client.get_job(job_id)
    assert same_spec(expected, held.proto.spec), (expected, held.proto.spec)
    assert held.args == kw.get("args")
    assert held.paused == ("next_run_time" in kw)

    # And clusterctl shows the same job.
    shown = cluster.clusterctl("job", "get", job_id)
    assert shown["id"] == job_id
    assert shown["name"] == held.name == kw.get("name", job_id)
    assert shown["time_zone"] == held.timezone
    want_zone = kw.get("timezone") or getattr(trigger, "timezone", None) or "UTC"
    assert held.timezone == want_zone
    assert shown["labels"] == held.labels == kw.get("labels", {})
    assert shown["state"] == held.state == ("paused" if "next_run_time" in kw else "active")
    assert shown["version"] == held.version
    assert shown["run_count"] == held.run_count
    assert shown["next_fire_at"] == rfc3339(held.next_run_time)
    if sched is not None:
        assert shown["schedule"].replace('"', "") == sched.replace('"', "")

    # Policies, executor and bounds: as the keywords say, and as the SDK reads them back.
    policies = shown["policies"]
    assert policies == _expected_policies(trigger, kw), policies
    assert policies["misfire_grace_ms"] == _ms(held.misfire_grace_time)
    assert policies["coalesce"] == held.coalesce and policies["overlap"] == held.overlap
    assert policies["max_instances"] == held.max_instances
    assert policies["max_retries"] == held.retries and policies["max_runs"] == held.max_runs
    assert policies["timeout_ms"] == _ms(held.timeout)
    assert policies["jitter_ms"] == _ms(held.jitter)
    assert policies["pause_after_failures"] == held.pause_after_failures
    assert shown["executor"] == {
        "kind": "worker",
        "queue": "reports",
        "function": "build",
        "args": kw.get("args"),
    }
    assert f"{shown['executor']['queue']}:{shown['executor']['function']}" == held.func
    assert shown["start_at"] == _bound(trigger, kw, "start_date") == rfc3339(held.start_date)
    assert shown["end_at"] == _bound(trigger, kw, "end_date") == rfc3339(held.end_date)
    assert shown["exclude_calendars"] == kw.get("exclude_calendars", [])
    assert list(held.exclude_calendars) == shown["exclude_calendars"]
    if "after" in kw:
        upstream, _, on = kw["after"].partition(":")
        want = {"job_id": upstream, "on": on or "succeeded"}
        assert shown["schedule_spec"] == {"after": want}
        assert held.after == f"{upstream}:{want['on']}"


def test_policies_read_back(client: schedulerd.Client, job_id: str) -> None:
    client.add_job(
        job_id,
        "q:f",
        "interval",
        seconds=30,
        misfire_grace_time=15,
        coalesce=False,
        max_instances=2,
    )
    j = client.get_job(job_id)
    assert j.misfire_grace_time == timedelta(seconds=15)
    assert j.coalesce == "all" and j.overlap == "allow" and j.max_instances == 2


def test_pause_resume_modify_remove(client: schedulerd.Client, job_id: str) -> None:
    j = client.add_job(job_id, "q:f", "interval", minutes=1)
    assert j.state == "active" and j.next_run_time is not None
    p = client.pause_job(job_id)
    assert p.paused and p.state == "paused" and p.version > j.version
    r = client.resume_job(job_id)
    assert not r.paused and r.state == "active"
    m = client.modify_job(job_id, minutes=2, trigger="interval", labels={"k": "v"})
    assert m.schedule == "interval 0:02:00" and m.labels == {"k": "v"} and m.version > r.version
    m2 = client.reschedule_job(job_id, "cron", hour=5)
    assert m2.schedule == "cron hour=5"
    client.remove_job(job_id)
    with pytest.raises(schedulerd.JobLookupError):
        client.get_job(job_id)
    assert client.get_job_or_none(job_id) is None


def test_get_jobs_paginates_and_filters(client: schedulerd.Client, job_id: str) -> None:
    ids = [f"{job_id}-{i}" for i in range(7)]
    for i in ids:
        client.add_job(i, "q:f", "interval", minutes=5, labels={"batch": job_id[-6:]})
    got = client.get_jobs(labels={"batch": job_id[-6:]}, page_size=3)
    assert [j.id for j in got] == sorted(ids)
    assert len(client.get_jobs(page_size=2)) >= 7
    assert client.pause_jobs({"batch": job_id[-6:]}) == 7
    assert all(j.paused for j in client.get_jobs(labels={"batch": job_id[-6:]}))


def test_declare_job_is_idempotent(client: schedulerd.Client, job_id: str) -> None:
    j1, what1 = client.declare_job(job_id, "q:f", "cron", hour=3, args={"a": 1})
    j2, what2 = client.declare_job(job_id, "q:f", "cron", hour=3, args={"a": 1})
    assert (what1, what2) == ("created", "unchanged")
    assert j2.version == j1.version
    j3, what3 = client.declare_job(job_id, "q:f", "cron", hour=4, args={"a": 1})
    assert what3 == "updated" and j3.version > j1.version and j3.schedule == "cron hour=4"


def test_run_job_and_runs_match_clusterctl(
    client: schedulerd.Client, cluster: Cluster, clusterctl_bin: str, job_id: str
) -> None:
    client.add_job(job_id, "nobody-serves-this:f", "interval", minutes=30, misfire_grace_time=1)
    run = client.run_job(job_id)
    assert run.job_id == job_id and run.occurrence_id.startswith(job_id + "@")
    runs = wait_for(
        lambda: [r for r in client.runs(job_id) if r.occurrence_id == run.occurrence_id],
        20,
        "the run-now occurrence in runs()",
    )
    shown = cluster.clusterctl("runs", job_id)
    mine = [r for r in shown if r["occurrence_id"] == run.occurrence_id]
    assert len(mine) == 1
    as_json = runs[0].to_json()
    assert set(as_json) == set(mine[0]), "runs() has the fields of runs -o json"
    for k in ("job_id", "occurrence_id", "scheduled_at"):
        assert as_json[k] == mine[0][k]
    assert runs[0].exit_code is None  # a worker job has no exit code


def test_events_stream(client: schedulerd.Client, job_id: str) -> None:
    client.add_job(job_id, "q:f", "interval", minutes=5)
    seen: list[schedulerd.Event] = []
    stream = client.events(job_id=job_id, timeout=30)

    def read() -> None:
        for e in stream:
            seen.append(e)
            if e.kind == "job_modified":
                return

    t = threading.Thread(target=read, daemon=True)
    t.start()

    def modified() -> bool:
        # The stream may open after a change: keep changing until one is seen.
        client.pause_job(job_id)
        client.resume_job(job_id)
        return any(e.kind == "job_modified" for e in seen)

    try:
        wait_for(modified, 20, "a job_modified event on the WatchEvents stream", every=0.3)
    finally:
        stream.close()
    assert all(e.job_id == job_id for e in seen)


# ------------------------------------------------------------------ bad input (G5)


def _unchanged(client: schedulerd.Client, before: list[schedulerd.Job]) -> None:
    after = client.get_jobs()
    assert [(j.id, j.version) for j in after] == [(j.id, j.version) for j in before]


def test_bad_cron_field(client: schedulerd.Client, job_id: str) -> None:
    before = client.get_jobs()
    with pytest.raises(schedulerd.InvalidSchedule) as e:
        client.add_job(job_id, "q:f", "cron", crontab="0 0 32 * *")
    assert e.value.field == "job.schedule.cron"
    assert "32" in e.value.message and e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(schedulerd.InvalidSchedule) as e2:
        client.add_job(job_id, "q:f", "cron", day=32)
    assert e2.value.field is not None and e2.value.field.startswith("job.schedule.calendar")
    with pytest.raises(schedulerd.InvalidSchedule) as e3:
        client.add_job(job_id, "q:f", "cron", crontab="0 0 30 2 *")  # never fires
    assert e3.value.field == "job.schedule.cron"
    _unchanged(client, before)


def test_unknown_zone(client: schedulerd.Client, job_id: str) -> None:
    before = client.get_jobs()
    with pytest.raises(schedulerd.InvalidSchedule) as e:
        client.add_job(job_id, "q:f", "cron", hour=3, timezone="Mars/Olympus_Mons")
    assert e.value.field == "job.time_zone" and "Mars/Olympus_Mons" in str(e.value)
    _unchanged(client, before)


def test_unknown_job(client: schedulerd.Client, job_id: str) -> None:
    before = client.get_jobs()
    for call in (
        client.get_job,
        client.remove_job,
        client.pause_job,
        client.resume_job,
        client.run_job,
    ):
        with pytest.raises(schedulerd.JobLookupError) as e:
            call(job_id)
        assert isinstance(e.value, KeyError) and e.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(schedulerd.JobLookupError):
        client.modify_job(job_id, name="x")
    _unchanged(client, before)


def test_duplicate_id(client: schedulerd.Client, job_id: str) -> None:
    first = client.add_job(job_id, "q:f", "interval", minutes=5)
    before = client.get_jobs()
    with pytest.raises(schedulerd.ConflictingIdError) as e:
        client.add_job(job_id, "q:g", "interval", minutes=7)
    assert e.value.code == grpc.StatusCode.ALREADY_EXISTS
    _unchanged(client, before)
    kept = client.get_job(job_id)
    assert kept.func == "q:f" and kept.version == first.version
    replaced = client.add_job(job_id, "q:g", "interval", minutes=7, replace_existing=True)
    assert replaced.func == "q:g" and replaced.version > first.version


def test_args_not_json_serialisable(client: schedulerd.Client, job_id: str) -> None:
    before = client.get_jobs()
    with pytest.raises(schedulerd.NotSerializableError) as e:
        client.add_job(job_id, "q:f", "interval", minutes=5, args={"conn": object()})
    assert e.value.field == "args" and isinstance(e.value, TypeError)
    _unchanged(client, before)
    assert client.get_job_or_none(job_id) is None


def test_oversize_args_refused_by_cluster(client: schedulerd.Client, job_id: str) -> None:
    with pytest.raises(schedulerd.InvalidArgument) as e:
        client.add_job(job_id, "q:f", "interval", minutes=5, args="x" * 70_000)
    assert e.value.field == "job.executor.worker.args"
    assert client.get_job_or_none(job_id) is None


# ------------------------------------------------------------------ addresses, hints, retries


def _follower_first(client: schedulerd.Client, cluster: Cluster) -> list[str]:
    st = client.status()
    leader = st.leader_addr
    return [a for a in cluster.addrs if a != leader] + [leader]  # type: ignore[list-item]


def test_follower_first_address_list(
    client: schedulerd.Client, cluster: Cluster, job_id: str
) -> None:
    addrs = _follower_first(client, cluster)
    with schedulerd.Client(addrs) as c:
        c.add_job(job_id, "q:f", "interval", minutes=5)
        assert c.get_job(job_id).id == job_id
        assert c.last_address == addrs[0]  # a follower answered (it forwards writes)


def test_dead_first_address_is_skipped(cluster: Cluster, job_id: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    with schedulerd.Client([dead, *cluster.addrs], timeout=2) as c:
        c.add_job(job_id, "q:f", "interval", minutes=5)
        assert c.last_address != dead


class _Hinting(pb_grpc.JobServiceServicer):
    """A member that knows the leader but cannot serve: UNAVAILABLE + x-leader-addr."""

    def __init__(self, leader: str, token: str | None = None) -> None:
        self.leader = leader
        self.calls = 0
        self.auth: list[str] = []

    def _refuse(self, context: grpc.ServicerContext) -> None:
        self.calls += 1
        md = dict(context.invocation_metadata())
        self.auth.append(str(md.get("authorization")))
        context.set_trailing_metadata((("x-leader-addr", self.leader), ("x-leader-id", "1")))
        context.abort(grpc.StatusCode.UNAVAILABLE, "not the leader")

    def GetJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._refuse(context)

    def CreateJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._refuse(context)


class _AppliesThenFails(pb_grpc.JobServiceServicer):
    """Forwards a create to the real cluster, then answers UNAVAILABLE: an unknown outcome."""

    def __init__(self, real: str) -> None:
        self.channel = grpc.insecure_channel(real)
        self.calls = 0

    def CreateJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls += 1
        try:
            pb_grpc.JobServiceStub(self.channel).CreateJob(request, timeout=10)
        except grpc.RpcError:
            pass  # whatever happened there, the client hears "unavailable"
        context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset after the write")


@pytest.fixture
def fake_member() -> Iterator[Any]:
    servers: list[grpc.Server] = []

    def start(servicer: pb_grpc.JobServiceServicer) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_JobServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for s in servers:
        s.stop(grace=None)


def test_leader_hint_is_followed(
    client: schedulerd.Client, cluster: Cluster, fake_member: Any, job_id: str
) -> None:
    leader = client.status().leader_addr
    assert leader is not None
    client.add_job(job_id, "q:f", "interval", minutes=5)
    hinting = _Hinting(leader)
    fake = fake_member(hinting)
    with schedulerd.Client(fake, token="tok-123") as c:  # only the hinting member is known
        assert c.get_job(job_id).id == job_id
        assert c.last_address == leader and hinting.calls == 1
    assert hinting.auth == ["Bearer tok-123"]


def test_retried_create_after_unknown_outcome_is_idempotent(
    client: schedulerd.Client, cluster: Cluster, fake_member: Any, job_id: str
) -> None:
    flaky = _AppliesThenFails(cluster.addrs[0])
    fake = fake_member(flaky)
    with schedulerd.Client([fake, cluster.addrs[1]]) as c:
        job = c.add_job(job_id, "q:f", "interval", minutes=5)  # no ConflictingIdError
    assert flaky.calls == 1 and job.id == job_id and job.version >= 1
    # A retry that meets a *different* job with that id still refuses.
    other = _AppliesThenFails(cluster.addrs[0])
    fake2 = fake_member(other)
    with (
        schedulerd.Client([fake2, cluster.addrs[1]]) as c,
        pytest.raises(schedulerd.ConflictingIdError),
    ):
        c.add_job(job_id, "q:other", "interval", minutes=9)
    assert client.get_job(job_id).func == "q:f"


def test_build_spec_matches_expected_for_design_example() -> None:
    s = build_spec(
        pb.JobSpec(id="nightly"),
        {
            "func": "reports:build",
            "args": {"region": "eu"},
            "misfire_grace_time": 30,
            "coalesce": True,
            "max_instances": 1,
        },
        "cron",
        {"hour": 3, "minute": 0, "timezone": "Europe/Paris"},
    )
    assert s.executor.worker.queue == "reports" and s.executor.worker.args == '{"region":"eu"}'
    assert s.time_zone == "Europe/Paris" and s.schedule.calendar.hour == "3"


def test_no_trigger_runs_once_now(client: schedulerd.Client, job_id: str) -> None:
    """APScheduler's add_job without trigger runs once, now: here a second ahead,
    since the cluster finishes (unrun) a "once" job whose instant has passed."""
    before = datetime.now(UTC)
    job = client.add_job(job_id, "nobody-serves-this:f")
    assert job.schedule.startswith("date ")
    assert job.state == "active" and job.next_run_time is not None
    assert timedelta(0) < job.next_run_time - before < timedelta(seconds=5)
