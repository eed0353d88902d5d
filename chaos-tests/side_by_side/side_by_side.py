#!/usr/bin/env python3
"""Side by side: the `lateness` and `burst` workloads on our cluster and on
APScheduler 3.11, reported together from one run, with ratios.

One command, from anywhere (Python 3.8+; network to PyPI the first time):

    python3 chaos-tests/side_by_side/side_by_side.py

Quick run with small parameters:

    python3 chaos-tests/side_by_side/side_by_side.py --jobs 200 --secs 10 --burst-jobs 200

It makes (once) a venv under ~/.cache/scheduler-bench/ with the pinned
APScheduler of requirements.txt, then runs in turn, never two at once:

1. APScheduler, lateness: `--jobs` interval jobs every second, start dates
   spread evenly over the second, each doing an HTTP POST to a local sink.
2. APScheduler, burst: `--burst-jobs` date jobs all due on one whole second.
3. Ours: `bench lateness --jobs N --secs S` and `bench burst --jobs N`
   (a 3-node cluster, HTTP executor, the bench's own sink), through
   `cargo run -p chaos-tests --release --bin bench` or `--bench-bin PATH`.
4. With `--ceiling 2000,5000,10000`: each rate in turn on APScheduler (the
   lateness workload at that many jobs, `--ceiling-secs` measured), then
   `bench throughput --steps ... --all-steps` on ours, so both maxima come
   from one run. A step is kept up, for both, when the effects received in
   its window reach 98% of the offered rate and every occurrence arrived
   exactly once (the Rust bench's rule, `throughput.rs`). APScheduler's
   rates run twice: with the HTTP sink, as the other workloads, and with
   the job appending to a list in its own process (`"effect": "memory"`),
   which is APScheduler's own limit without any effect to make: the run
   tells the sink's share from APScheduler's.

Lateness is, for both, the sink's receive time minus the scheduled instant,
over the occurrences scheduled in the measured window (after `--warmup`
seconds), late ones included however late. Prints one JSON line on stdout:
both sets of figures, and ratios APScheduler / ours (above 1: ours is less
late). Progress goes to stderr.

Choices, and why:
- The APScheduler sink is a `ThreadingHTTPServer` (HTTP/1.1 keep-alive, a
  thread per connection) in a separate process: a thread inside the
  APScheduler process would share its GIL with the scheduler and its
  workers, so the receive timestamps would wait behind the work being
  measured. Ours runs its sink in the bench process, apart from the
  schedulerd processes, likewise.
- The scheduled instant reaches the job exactly: an executor subclass
  passes each run time to the job (through a thread-local) while
  APScheduler's own `run_job` still does the misfire check and the call.
- APScheduler runs with its defaults (`ThreadPoolExecutor` of 10 workers,
  coalesce, max_instances 1) except `misfire_grace_time=None`: ours has no
  misfire limit by default, and a dropped late run would hide its lateness.
  Dropped runs (max instances) and errors are counted anyway.
- Jobs post over one keep-alive connection per worker thread (stdlib
  `http.client`), as ours posts through a pooled client.
- CPU steal (/proc/stat) is recorded for every measured window: the
  machine may be shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REQUIREMENTS = HERE / "requirements.txt"


def log(msg: str) -> None:
    print(f"side_by_side: {msg}", file=sys.stderr, flush=True)


def now_ms() -> float:
    return time.time() * 1000.0


def ceil_sec(ms: float) -> int:
    return math.ceil(ms / 1000.0) * 1000


def sleep_until(ms: float) -> None:
    left = (ms - now_ms()) / 1000.0
    if left > 0:
        time.sleep(left)


def cpu_jiffies() -> tuple[int, int] | None:
    """(steal, total) from the `cpu` line of /proc/stat, as chaos_tests::steal."""
    try:
        with open("/proc/stat") as f:
            line = next(l for l in f if l.startswith("cpu "))
    except (OSError, StopIteration):
        return None
    nums = [int(x) for x in line.split()[1:9]]
    return nums[7], sum(nums)


def steal_pct(a: tuple[int, int] | None, b: tuple[int, int] | None) -> float | None:
    if a is None or b is None or b[1] <= a[1]:
        return None
    return round(100.0 * (b[0] - a[0]) / (b[1] - a[1]), 3)


def percentile(sorted_: list[float], p: float) -> float | None:
    """Nearest rank, as the Rust bench's `stats::percentile`."""
    if not sorted_:
        return None
    return sorted_[round((len(sorted_) - 1) * p)]


def r3(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


# ---------------------------------------------------------------- the sink


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per worker
    # (job, scheduled ms, received ms); one sink per process.
    hits: ClassVar[list[tuple[str, float, float]]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        received = now_ms()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        job = self.headers.get("X-Scheduler-Job-Id", "")
        try:
            scheduled = float(self.headers.get("X-Scheduler-Scheduled-Ms", ""))
        except ValueError:
            scheduled = math.nan
        with self.lock:
            self.hits.append((job, scheduled, received))
        self._answer(b"")

    def do_GET(self) -> None:
        with self.lock:
            body = json.dumps(self.hits).encode()
        self._answer(body)

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def run_sink() -> None:
    """`_sink`: serve until killed; the first stdout line is the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


class SinkProcess:
    """The sink in its own process (see the module doc for why)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "_sink"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.proc.kill()
            raise RuntimeError(f"the sink did not start (said {port!r})")
        self.url = f"http://127.0.0.1:{port}/effect"

    def hits(self) -> list[tuple[str, float, float]]:
        with urllib.request.urlopen(self.url, timeout=30) as r:
            return [tuple(h) for h in json.load(r)]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


# ---------------------------------------------------------------- APScheduler side (runs in the venv)


def run_apscheduler(a: argparse.Namespace) -> None:
    """`_aps`: run one workload on APScheduler until `--until`, then print
    what APScheduler itself counted (missed, max instances, errors)."""
    import http.client
    from datetime import datetime, timedelta, timezone
    from urllib.parse import urlsplit

    import apscheduler
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from apscheduler.executors.base import run_job
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    stamp = threading.local()

    def stamped_run_job(job, alias, run_times, logger_name):  # type: ignore[no-untyped-def]
        events = []
        for run_time in run_times:
            stamp.at = run_time
            events.extend(run_job(job, alias, [run_time], logger_name))
        return events

    class StampedThreadPool(ThreadPoolExecutor):
        """APScheduler's thread pool, submitting `stamped_run_job` instead of
        `run_job` (the callback is BasePoolExecutor's, unchanged)."""

        def _do_submit_job(self, job, run_times):  # type: ignore[no-untyped-def]
            def callback(f):  # type: ignore[no-untyped-def]
                exc = f.exception()
                if exc:
                    self._run_job_error(job.id, exc, getattr(exc, "__traceback__", None))
                else:
                    self._run_job_success(job.id, f.result())

            f = self._pool.submit(
                stamped_run_job, job, job._jobstore_alias, run_times, self._logger.name
            )
            f.add_done_callback(callback)

    target = urlsplit(a.sink)
    conns = threading.local()
    # `--sink memory`: the effect is an entry in this list (list.append is
    # atomic under the GIL), printed at the end.
    kept: list[tuple[str, float, float]] = []

    def remember(job_id: str) -> None:
        kept.append((job_id, stamp.at.timestamp() * 1000.0, time.time() * 1000.0))

    def post(job_id: str) -> None:
        at: datetime = stamp.at
        headers = {
            "X-Scheduler-Job-Id": job_id,
            "X-Scheduler-Scheduled-Ms": repr(at.timestamp() * 1000.0),
            "Content-Length": "0",
        }
        for _ in range(2):  # one reconnect if the kept-alive connection dropped
            conn = getattr(conns, "c", None)
            if conn is None:
                conn = conns.c = http.client.HTTPConnection(
                    target.hostname, target.port, timeout=10
                )
            try:
                conn.request("POST", target.path, headers=headers)
                conn.getresponse().read()
                return
            except (OSError, http.client.HTTPException):
                conn.close()
                conns.c = None
        raise RuntimeError("sink unreachable")

    counts = {"missed": 0, "max_instances": 0, "errors": 0}
    # Counted through its events below; its own warning per dropped run
    # would be tens of thousands of lines at a rate it cannot keep up.
    import logging

    logging.getLogger("apscheduler").setLevel(logging.ERROR)

    def on_event(e) -> None:  # type: ignore[no-untyped-def]
        key = {EVENT_JOB_MISSED: "missed", EVENT_JOB_MAX_INSTANCES: "max_instances"}.get(
            e.code, "errors"
        )
        counts[key] += 1

    sched = BackgroundScheduler(
        executors={"default": StampedThreadPool(a.workers)},
        job_defaults={"misfire_grace_time": None},
        timezone=timezone.utc,
    )
    sched.add_listener(on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
    base = datetime.fromtimestamp(a.base / 1000.0, tz=timezone.utc)
    for i in range(a.jobs):
        if a.workload == "lateness":
            start = base + timedelta(milliseconds=i * 1000 // a.jobs)
            trigger = IntervalTrigger(seconds=1, start_date=start, timezone=timezone.utc)
        else:
            trigger = DateTrigger(run_date=base, timezone=timezone.utc)
        func = remember if a.sink == "memory" else post
        sched.add_job(func, trigger, args=[f"{a.workload}-{i}"], id=f"{a.workload}-{i}")
    sched.start()
    sleep_until(a.until)
    sched.shutdown(wait=True)
    if a.sink == "memory":
        print(json.dumps(kept), flush=True)
    print(json.dumps({"version": apscheduler.__version__, **counts}), flush=True)


# ---------------------------------------------------------------- orchestration


def venv_python() -> Path:
    """The venv's python, made once per requirements.txt content."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = cache / "scheduler-bench" / f"apscheduler-{digest}"
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"making {venv} with {REQUIREMENTS.name}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(REQUIREMENTS),
            ],
            check=True,
        )
    return python


def figures(hits, expected: set[tuple[str, int]], lo: float, hi: float, secs: float) -> dict:
    """Lateness of the first delivery of each expected occurrence; missing,
    duplicates and the rate received in [lo, hi), as the Rust ledger counts."""
    first: dict[tuple[str, int], float] = {}
    dup = 0
    in_window = 0
    for job, scheduled, received in hits:
        if math.isnan(scheduled):
            continue
        key = (job, round(scheduled))
        if key not in expected:
            continue
        if key in first:
            dup += 1
        else:
            first[key] = received - scheduled
        if lo <= received < hi:
            in_window += 1
    late = sorted(first.values())
    return {
        "fires": len(late),
        "fires_per_sec": r3(in_window / secs) if secs else None,
        "lateness_ms_p50": r3(percentile(late, 0.5)),
        "lateness_ms_p99": r3(percentile(late, 0.99)),
        "lateness_ms_max": r3(late[-1] if late else None),
        "expected": len(expected),
        "missing": len(expected) - len(late),
        "duplicate_deliveries": dup,
    }


def aps_run(
    python: Path,
    workload: str,
    jobs: int,
    base: int,
    until: int,
    workers: int,
    memory: bool = False,
) -> tuple[dict, list]:
    """One APScheduler process; its effects go to the HTTP sink, or with
    `memory` into a list in its own process."""
    sink = None if memory else SinkProcess()
    try:
        out = subprocess.run(
            [
                str(python),
                str(Path(__file__).resolve()),
                "_aps",
                workload,
                "--sink",
                "memory" if sink is None else sink.url,
                "--jobs",
                str(jobs),
                "--base",
                str(base),
                "--until",
                str(until),
                "--workers",
                str(workers),
            ],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        lines = out.strip().splitlines()
        counted = json.loads(lines[-1])
        if sink is None:
            return counted, [tuple(h) for h in json.loads(lines[-2])]
        return counted, sink.hits()
    finally:
        if sink is not None:
            sink.close()


def aps_lateness(python: Path, a: argparse.Namespace) -> dict:
    log(f"APScheduler lateness: {a.jobs} jobs every second, {a.secs} s measured")
    base = ceil_sec(now_ms() + 2000)
    lo = base + a.warmup * 1000
    hi = lo + a.secs * 1000
    j0: list = []
    # Steal over the measured window: read it from a timer thread.
    threading.Timer((lo - now_ms()) / 1000.0, lambda: j0.append(cpu_jiffies())).start()
    counted, hits = aps_run(python, "lateness", a.jobs, base, hi + a.drain * 1000, a.workers)
    expected = {
        (f"lateness-{i}", t + i * 1000 // a.jobs)
        for i in range(a.jobs)
        for t in range(lo, hi, 1000)
    }
    f = figures(hits, expected, lo, hi, a.secs)
    f.update(
        jobs=a.jobs,
        secs=a.secs,
        apscheduler=counted,
        steal_pct=steal_pct(j0[0] if j0 else None, cpu_jiffies()),
    )
    return f


def aps_burst(python: Path, a: argparse.Namespace) -> dict:
    log(f"APScheduler burst: {a.burst_jobs} jobs due on one second")
    at = ceil_sec(now_ms() + 3000)
    j0 = cpu_jiffies()
    counted, hits = aps_run(python, "burst", a.burst_jobs, at, at + a.drain * 1000, a.workers)
    expected = {(f"burst-{i}", at) for i in range(a.burst_jobs)}
    f = figures(hits, expected, at, at + 1000, 0)
    recv = sorted(r - at for job, s, r in hits if not math.isnan(s) and (job, round(s)) in expected)
    f.update(
        jobs=a.burst_jobs,
        first_fire_ms=r3(recv[0] if recv else None),
        last_fire_ms=r3(recv[-1] if recv else None),
        apscheduler=counted,
        steal_pct=steal_pct(j0, cpu_jiffies()),
    )
    del f["fires_per_sec"]
    return f


def kept_up(f: dict, offered: int) -> bool:
    """The Rust throughput bench's rule: 98% of the offered rate in the
    window, nothing missing, nothing twice."""
    rate = f.get("fires_per_sec") or 0.0
    return rate >= 0.98 * offered and f["missing"] == 0 and f["duplicate_deliveries"] == 0


def aps_ceiling(python: Path, a: argparse.Namespace, memory: bool = False) -> dict:
    """APScheduler at each rate of `--ceiling`: the lateness workload, one
    fresh process per rate; effects to the HTTP sink, or with `memory` into
    a list in APScheduler's own process."""
    steps = []
    best = None
    effect = "memory" if memory else "http"
    for n in a.ceiling:
        log(
            f"APScheduler ceiling ({effect}): {n} jobs every second, {a.ceiling_secs} s measured"
        )
        base = ceil_sec(now_ms() + 2000)
        lo = base + a.warmup * 1000
        hi = lo + a.ceiling_secs * 1000
        j0: list = []
        threading.Timer((lo - now_ms()) / 1000.0, lambda j=j0: j.append(cpu_jiffies())).start()
        counted, hits = aps_run(
            python, "lateness", n, base, hi + a.drain * 1000, a.workers, memory
        )
        expected = {
            (f"lateness-{i}", t + i * 1000 // n) for i in range(n) for t in range(lo, hi, 1000)
        }
        f = figures(hits, expected, lo, hi, a.ceiling_secs)
        ok = kept_up(f, n)
        f.update(
            offered_per_sec=n,
            kept_up=ok,
            apscheduler=counted,
            steal_pct=steal_pct(j0[0] if j0 else None, cpu_jiffies()),
        )
        steps.append(f)
        if ok:
            best = n if best is None else max(best, n)
    return {"effect": effect, "steps": steps, "highest_kept_up_fires_per_sec": best}


def our_ceiling(a: argparse.Namespace) -> dict:
    """Ours at each rate of `--ceiling`: `bench throughput --all-steps`."""
    steps_arg = ",".join(str(n) for n in a.ceiling)
    lines = ours(
        a,
        "throughput",
        "--steps",
        steps_arg,
        "--secs",
        str(a.ceiling_secs),
        "--warmup",
        str(a.warmup),
        "--all-steps",
    )
    keys = (
        "offered_per_sec",
        "fires_per_sec",
        "kept_up",
        "exactly_once",
        "missing",
        "lateness_ms_p50",
        "lateness_ms_p99",
        "cpu_us_per_fire_cluster",
        "steal_pct",
    )
    steps = [pick(line, keys) for line in lines if line.get("bench") == "throughput_step"]
    best = [s["offered_per_sec"] for s in steps if s.get("kept_up")]
    return {"steps": steps, "highest_kept_up_fires_per_sec": max(best) if best else None}


def ours(a: argparse.Namespace, *args: str) -> list[dict]:
    """Runs our bench with `args`; its JSON lines."""
    if a.bench_bin:
        cmd = [a.bench_bin, *args]
    else:
        cmd = [
            "cargo",
            "run",
            "--quiet",
            "-p",
            "chaos-tests",
            "--release",
            "--bin",
            "bench",
            "--",
            *args,
        ]
    log("ours: " + " ".join(cmd))
    out = subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.PIPE, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


KEYS = ("lateness_ms_p50", "lateness_ms_p99", "lateness_ms_max")


def pick(line: dict, keys: tuple[str, ...]) -> dict:
    return {k: line.get(k) for k in keys}


def ratios(aps: dict, our: dict) -> dict:
    def ratio(k: str) -> float | None:
        x, y = aps.get(k), our.get(k)
        if x is None or y is None or y == 0:
            return None
        return round(x / y, 3)

    return {k.replace("_ms", ""): ratio(k) for k in KEYS}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_sink":
        return run_sink()
    if len(sys.argv) > 1 and sys.argv[1] == "_aps":
        p = argparse.ArgumentParser()
        p.add_argument("workload", choices=["lateness", "burst"])
        p.add_argument("--sink", required=True)
        p.add_argument("--jobs", type=int, required=True)
        p.add_argument("--base", type=int, required=True, help="first instant, Unix ms")
        p.add_argument("--until", type=int, required=True, help="stop at, Unix ms")
        p.add_argument("--workers", type=int, required=True)
        return run_apscheduler(p.parse_args(sys.argv[2:]))

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--jobs", type=int, default=1000, help="lateness: jobs every second (1000)")
    p.add_argument("--secs", type=int, default=60, help="lateness: seconds measured (60)")
    p.add_argument("--warmup", type=int, default=5, help="lateness: seconds before the window (5)")
    p.add_argument(
        "--burst-jobs", type=int, default=1000, help="burst: jobs due on one second (1000)"
    )
    p.add_argument(
        "--workers", type=int, default=10, help="APScheduler thread pool (its default, 10)"
    )
    p.add_argument(
        "--drain", type=int, default=5, help="seconds allowed for late runs after a window (5)"
    )
    p.add_argument("--bench-bin", help="our built bench binary (default: cargo run --release)")
    p.add_argument(
        "--ceiling",
        type=lambda v: [int(x) for x in v.split(",") if x],
        default=[],
        help="also the highest rate each keeps up, trying these jobs/s in turn (e.g. 2000,5000,10000)",
    )
    p.add_argument(
        "--ceiling-secs", type=int, default=10, help="ceiling: seconds measured per rate (10)"
    )
    a = p.parse_args()

    python = venv_python()
    aps_late = aps_lateness(python, a)
    aps_b = aps_burst(python, a)
    our_late = next(
        l
        for l in ours(
            a, "lateness", "--jobs", str(a.jobs), "--secs", str(a.secs), "--warmup", str(a.warmup)
        )
        if l.get("bench") == "lateness"
    )
    our_b = next(
        l for l in ours(a, "burst", "--jobs", str(a.burst_jobs)) if l.get("bench") == "burst"
    )
    ceiling = None
    if a.ceiling:
        aps_c = aps_ceiling(python, a)
        aps_m = aps_ceiling(python, a, memory=True)
        our_c = our_ceiling(a)
        x = aps_c["highest_kept_up_fires_per_sec"]
        y = our_c["highest_kept_up_fires_per_sec"]
        ceiling = {
            "apscheduler": aps_c,
            "apscheduler_effect_in_memory": aps_m,
            "ours": our_c,
            "ratio_apscheduler_over_ours": round(x / y, 3) if x and y else None,
        }
    common = KEYS + ("fires", "missing", "duplicate_deliveries", "steal_pct")
    print(
        json.dumps(
            {
                "ceiling": ceiling,
                "bench": "side_by_side",
                "workload": {
                    "lateness_jobs": a.jobs,
                    "secs": a.secs,
                    "warmup": a.warmup,
                    "burst_jobs": a.burst_jobs,
                    "apscheduler_workers": a.workers,
                },
                "ours": {
                    "lateness": pick(our_late, common + ("fires_per_sec",)),
                    "burst": pick(our_b, common + ("first_fire_ms", "last_fire_ms")),
                },
                "apscheduler": {"lateness": aps_late, "burst": aps_b},
                "ratios_apscheduler_over_ours": {
                    "lateness": ratios(aps_late, our_late),
                    "burst": ratios(aps_b, our_b),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
