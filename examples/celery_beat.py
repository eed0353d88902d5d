"""Celery beat, moved to the cluster.

The original idea (a beat process sends tasks to a broker; workers run them;
two beat processes send every task twice):

    from celery import Celery
    from celery.schedules import crontab

    app = Celery("tasks", broker="redis://localhost")

    @app.task
    def add(x, y):
        return x + y

    app.conf.beat_schedule = {
        "add-every-2-seconds": {"task": "tasks.add", "schedule": 2.0, "args": (16, 16)},
        "add-every-night": {"task": "tasks.add", "schedule": crontab(minute=0, hour=3), "args": (1, 2)},
    }

On the cluster: the beat schedule becomes jobs (no broker, no single beat
process), the task becomes a worker function in the queue "tasks".
"""

import os
import threading

import schedulerd
from schedulerd import CronTrigger, IntervalTrigger

ADDR = os.environ.get("SCHEDULERD_ADDR", "127.0.0.1:7100")
RUN_SECONDS = float(os.environ.get("SCHEDULERD_RUN_SECONDS", "0"))  # 0: until Ctrl-C / SIGTERM

app = schedulerd.Worker(ADDR, queues=["tasks"])


@app.function("add")
def add(ctx: schedulerd.JobContext) -> int:
    x, y = ctx.args
    print(f"ran {ctx.occurrence_id}: add({x}, {y}) = {x + y}", flush=True)
    return x + y


beat_schedule = {
    "add-every-2-seconds": {"task": add, "schedule": IntervalTrigger(seconds=2), "args": (16, 16)},
    "add-every-night": {
        "task": add,
        "schedule": CronTrigger.from_crontab("0 3 * * *"),
        "args": (1, 2),
    },
}

if __name__ == "__main__":
    with schedulerd.Client(ADDR) as client:
        for name, entry in beat_schedule.items():
            client.add_job(
                f"celery-{name}", entry["task"], entry["schedule"], args=list(entry["args"]),
                replace_existing=True, labels={"example": "celery_beat"},
            )  # fmt: skip
    if RUN_SECONDS:
        threading.Timer(RUN_SECONDS, app.stop).start()
    app.run()
