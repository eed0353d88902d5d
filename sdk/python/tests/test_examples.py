"""Each program in examples/ runs for a few seconds against a real cluster and
does what its comment says. They all run at once (module fixture) to keep
the suite short; each test checks one."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster import PYTHON, Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.worker]

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
RUN_SECONDS = 9
NAMES = [
    "while_sleep",
    "timeloop",
    "threading_timer",
    "sched_module",
    "schedule_lib",
    "apscheduler_jobs",
    "celery_beat",
    "airflow_dag",
]
RAN = re.compile(r"^ran (\S+?Z)[: ]", re.M)  # occurrence ids end in Z


@dataclass
class Outcome:
    code: int
    output: str
    tmp: Path

    def runs(self) -> list[str]:
        return RAN.findall(self.output)

    def lines(self, needle: str) -> list[str]:
        return [line for line in self.output.splitlines() if needle in line]


@pytest.fixture(scope="module")
def outcomes(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Outcome]]:
    tmp = tmp_path_factory.mktemp("examples")
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    for name in NAMES:
        log = tmp / f"{name}.log"
        env = dict(
            os.environ,
            SCHEDULERD_ADDR=cluster.address,
            SCHEDULERD_RUN_SECONDS=str(RUN_SECONDS),
            ETL_DB=str(tmp / "etl.db"),
            PYTHONUNBUFFERED="1",
        )
        p = cluster.spawn([PYTHON, str(EXAMPLES / f"{name}.py")], log, env=env)
        procs[name] = (p, log)
    out: dict[str, Outcome] = {}
    for name, (p, log) in procs.items():
        try:
            code = p.wait(timeout=RUN_SECONDS + 60)
        except subprocess.TimeoutExpired:
            p.kill()
            code = -9
        out[name] = Outcome(code, log.read_text(errors="replace"), tmp)
    yield out
    with cluster.client() as c:
        for name in NAMES:
            c.remove_all_jobs({"example": name})


def check(o: Outcome, name: str) -> list[str]:
    assert o.code == 0, f"{name} exited {o.code}:\n{o.output[-3000:]}"
    runs = o.runs()
    assert len(runs) == len(set(runs)), f"{name} ran an occurrence twice: {runs}"
    return runs


def test_examples_exist() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(NAMES)
    for name in NAMES:
        text = (EXAMPLES / f"{name}.py").read_text()
        assert "The original idea" in text and "SCHEDULERD_ADDR" in text


def test_while_sleep_every_second(outcomes: dict[str, Outcome]) -> None:
    runs = check(outcomes["while_sleep"], "while_sleep")
    assert len(runs) >= RUN_SECONDS - 4, outcomes["while_sleep"].output


def test_timeloop_every_2s(outcomes: dict[str, Outcome]) -> None:
    runs = check(outcomes["timeloop"], "timeloop")
    assert len(runs) >= 2
    assert all(r.startswith("timeloop-2s@") for r in runs)


def test_threading_timer_runs_once(outcomes: dict[str, Outcome]) -> None:
    runs = check(outcomes["threading_timer"], "threading_timer")
    assert len(runs) == 1 and runs[0].startswith("timer-reminder@")
    assert outcomes["threading_timer"].lines("reminder for ada")


def test_sched_two_events_with_their_args(outcomes: dict[str, Outcome]) -> None:
    o = outcomes["sched_module"]
    runs = check(o, "sched_module")
    assert sorted(r.split("@")[0] for r in runs) == ["sched-first", "sched-second"]
    assert o.lines("EVENT:") and o.lines(" first") and o.lines(" second")


def test_schedule_phrases(outcomes: dict[str, Outcome], cluster: Cluster) -> None:
    o = outcomes["schedule_lib"]
    runs = check(o, "schedule_lib")
    assert len([r for r in runs if r.startswith("schedule-every-2s@")]) >= 2
    with cluster.client() as c:
        daily = c.get_job("schedule-daily")
    assert daily.schedule == "human every day at 10:30"
    assert daily.next_run_time is not None
    assert (daily.next_run_time.hour, daily.next_run_time.minute) == (10, 30)


def test_apscheduler_calls(outcomes: dict[str, Outcome], cluster: Cluster) -> None:
    runs = check(outcomes["apscheduler_jobs"], "apscheduler_jobs")
    assert len([r for r in runs if r.startswith("aps-tick@")]) >= RUN_SECONDS - 4
    with cluster.client() as c:
        nightly = c.get_job("aps-nightly")
    assert nightly.timezone == "Europe/Paris" and nightly.args == ["eu"]
    assert nightly.schedule == "cron hour=3 minute=0"
    assert (
        nightly.misfire_grace_time is not None and nightly.misfire_grace_time.total_seconds() == 30
    )


def test_celery_beat_schedule(outcomes: dict[str, Outcome], cluster: Cluster) -> None:
    o = outcomes["celery_beat"]
    runs = check(o, "celery_beat")
    assert len(runs) >= 2 and len(o.lines("add(16, 16) = 32")) == len(runs)
    with cluster.client() as c:
        assert c.get_job("celery-add-every-night").schedule == "cron 0 3 * * *"


def test_airflow_dag_runs_fenced(outcomes: dict[str, Outcome]) -> None:
    o = outcomes["airflow_dag"]
    runs = check(o, "airflow_dag")
    assert len(runs) >= 2
    conn = sqlite3.connect(o.tmp / "etl.db")
    rows = list(conn.execute("SELECT run, total FROM totals"))
    conn.close()
    assert sorted(r for r, _ in rows) == sorted(runs), "one row per DAG run"
    assert {t for _, t in rows} == {60}


def test_examples_need_only_the_sdk() -> None:
    """They import nothing but the standard library and schedulerd (the originals stay in comments)."""
    allowed = {"os", "threading", "time", "datetime", "sqlite3", "schedulerd"}
    for name in NAMES:
        code = (EXAMPLES / f"{name}.py").read_text().split('"""', 2)[2]
        mods = {
            line.split()[1].split(".")[0]
            for line in code.splitlines()
            if line.startswith(("import ", "from "))
        }
        assert mods <= allowed, (name, mods - allowed)
