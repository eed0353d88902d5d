"""A worker process for the cluster tests: fenced writes into a SQLite table.

    python worker_proc.py ADDRS QUEUE DB WORKER_ID sync|async [DRAIN_GRACE]

Function ``record``: sleeps ``args["sleep"]`` seconds on attempt 1 (only then,
so a retry is quick), ignoring cancellation on purpose when ``args["late"]``
(to show that the fence refuses a late write), then writes one row per
occurrence through schedulerd.fencing.sqlite; with ``args["fail"]`` it raises
instead, writing nothing (a failed attempt). A refused write is counted in
the table ``refusals`` (its own transaction).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
import time

import schedulerd

addrs, queue, db, worker_id, mode = sys.argv[1:6]
grace = float(sys.argv[6]) if len(sys.argv) > 6 else 30.0

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

worker = schedulerd.Worker(
    addrs, queues=[queue], max_concurrency=16, worker_id=worker_id, drain_grace=grace
)


def setup() -> None:
    # Two workers start at once on one database: switching it to WAL can
    # fail with "database is locked" at once (SQLite does not always wait
    # on its busy timeout for a journal-mode change), which would kill the
    # second worker before it connects; a suspected cause (not confirmed)
    # of a worker that never showed up in one CI run. Retry to a deadline.
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = sqlite3.connect(db, timeout=60)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS effects (occurrence_id TEXT, job_id TEXT, token INTEGER, worker TEXT, at REAL)"
                )
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS refusals (occurrence_id TEXT, token INTEGER, worker TEXT, reason TEXT)"
                )
                conn.commit()
                return
            finally:
                conn.close()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def write(ctx: schedulerd.JobContext) -> str:
    conn = sqlite3.connect(db, timeout=60)
    try:
        with schedulerd.fencing.sqlite(conn, ctx) as fence:
            if fence:
                conn.execute(
                    "INSERT INTO effects VALUES (?, ?, ?, ?, ?)",
                    (ctx.occurrence_id, ctx.job_id, ctx.fencing_token, worker_id, time.time()),
                )
        if not fence:
            conn.execute(
                "INSERT INTO refusals VALUES (?, ?, ?, ?)",
                (ctx.occurrence_id, ctx.fencing_token, worker_id, fence.reason),
            )
            conn.commit()
        print(f"write {ctx.occurrence_id} token={ctx.fencing_token} -> {fence.reason}", flush=True)
        return fence.reason
    finally:
        conn.close()


def pause(ctx: schedulerd.JobContext) -> float:
    print(f"start {ctx.occurrence_id} token={ctx.fencing_token}", flush=True)
    args = ctx.args if isinstance(ctx.args, dict) else {}
    if args.get("fail"):
        raise RuntimeError(f"{ctx.occurrence_id} fails on purpose")
    return float(args.get("sleep", 0)) if ctx.attempt == 1 else 0.0


if mode == "sync":

    @worker.function("record")
    def record(ctx: schedulerd.JobContext) -> str:
        seconds = pause(ctx)
        if seconds:
            if ctx.args.get("late"):
                time.sleep(seconds)  # a function that ignores cancellation
            elif not ctx.sleep(seconds):
                return "cancelled"  # a well-behaved function stops
        return write(ctx)

else:

    @worker.function("record")
    async def record_async(ctx: schedulerd.JobContext) -> str:
        seconds = pause(ctx)
        if seconds:
            await asyncio.sleep(seconds)
        return await asyncio.to_thread(write, ctx)


setup()
print(f"worker {worker_id} starting ({mode})", flush=True)
worker.run()
print(f"worker {worker_id} stopped; stats {worker.stats}", flush=True)
