"""The `schedule` library, moved to the cluster.

The original idea (human-readable schedules, run by a `run_pending` loop):

    import schedule, time

    def job(name):
        print("hello", name)

    schedule.every(2).seconds.do(job, name="ada")
    schedule.every().day.at("10:30").do(job, name="grace")

    while True:
        schedule.run_pending()
        time.sleep(1)

On the cluster: the same phrases ("every 2 seconds", "every day at 10:30"),
parsed by the cluster; no `run_pending` loop, the leader fires them.
"""

import os
import threading

import schedulerd
from schedulerd import HumanTrigger

ADDR = os.environ.get("SCHEDULERD_ADDR", "127.0.0.1:7100")
RUN_SECONDS = float(os.environ.get("SCHEDULERD_RUN_SECONDS", "0"))  # 0: until Ctrl-C / SIGTERM

worker = schedulerd.Worker(ADDR, queues=["schedule"])


@worker.function("job")
def job(ctx: schedulerd.JobContext) -> None:
    print(f"ran {ctx.occurrence_id}: hello {ctx.args['name']}", flush=True)


if __name__ == "__main__":
    labels = {"example": "schedule_lib"}
    with schedulerd.Client(ADDR) as client:
        client.add_job(
            "schedule-every-2s", job, HumanTrigger(phrase="every 2 seconds"),
            args={"name": "ada"}, replace_existing=True, labels=labels,
        )  # fmt: skip
        client.add_job(
            "schedule-daily", job, "human", phrase="every day at 10:30",
            args={"name": "grace"}, replace_existing=True, labels=labels,
        )  # fmt: skip
    if RUN_SECONDS:
        threading.Timer(RUN_SECONDS, worker.stop).start()
    worker.run()
