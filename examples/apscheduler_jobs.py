"""APScheduler, moved to the cluster.

The original idea (a scheduler inside one process, jobs in its memory or DB):

    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler()

    def tick():
        print("tick")

    def nightly(region):
        print("nightly report for", region)

    scheduler.add_job(tick, "interval", seconds=1, id="tick", coalesce=True, max_instances=1)
    scheduler.add_job(nightly, "cron", hour=3, minute=0, timezone="Europe/Paris",
                      args=["eu"], id="nightly", misfire_grace_time=30, replace_existing=True)
    scheduler.start()

On the cluster: the same `add_job` calls and keywords on `schedulerd.Client`;
the functions run in a `schedulerd.Worker`. Differences: `args` is any JSON
value, read as `ctx.args`; coalesce=True is "run the latest missed one".
"""

import os
import threading

import schedulerd

ADDR = os.environ.get("SCHEDULERD_ADDR", "127.0.0.1:7100")
RUN_SECONDS = float(os.environ.get("SCHEDULERD_RUN_SECONDS", "0"))  # 0: until Ctrl-C / SIGTERM

worker = schedulerd.Worker(ADDR, queues=["aps"])


@worker.function("tick")
def tick(ctx: schedulerd.JobContext) -> None:
    print(f"ran {ctx.occurrence_id}: tick", flush=True)


@worker.function("nightly")
def nightly(ctx: schedulerd.JobContext) -> None:
    print(f"ran {ctx.occurrence_id}: nightly report for {ctx.args[0]}", flush=True)


if __name__ == "__main__":
    labels = {"example": "apscheduler_jobs"}
    scheduler = schedulerd.Client(ADDR)
    scheduler.add_job(
        "aps-tick", tick, "interval", seconds=1, coalesce=True, max_instances=1,
        replace_existing=True, labels=labels,
    )  # fmt: skip
    scheduler.add_job(
        "aps-nightly", nightly, "cron", hour=3, minute=0, timezone="Europe/Paris",
        args=["eu"], misfire_grace_time=30, replace_existing=True, labels=labels,
    )  # fmt: skip
    if RUN_SECONDS:
        threading.Timer(RUN_SECONDS, worker.stop).start()
    worker.run()
