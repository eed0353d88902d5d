"""`threading.Timer`, moved to the cluster.

The original idea (a one-shot delay inside one process; lost if it restarts):

    import threading

    def send_reminder(user):
        print(f"reminder for {user}")

    threading.Timer(2.0, send_reminder, args=("ada",)).start()

On the cluster: a "date" job, two seconds from now, that runs once. The
cluster keeps it through restarts and failovers; the worker runs it once.
"""

import os
import threading
from datetime import UTC, datetime, timedelta

import schedulerd

ADDR = os.environ.get("SCHEDULERD_ADDR", "127.0.0.1:7100")
RUN_SECONDS = float(os.environ.get("SCHEDULERD_RUN_SECONDS", "0"))  # 0: until Ctrl-C / SIGTERM

worker = schedulerd.Worker(ADDR, queues=["reminders"])


@worker.function("send_reminder")
def send_reminder(ctx: schedulerd.JobContext) -> None:
    print(f"ran {ctx.occurrence_id}: reminder for {ctx.args['user']}", flush=True)


if __name__ == "__main__":
    with schedulerd.Client(ADDR) as client:
        client.add_job(
            "timer-reminder",
            send_reminder,
            "date",
            run_date=datetime.now(UTC) + timedelta(seconds=2),
            args={"user": "ada"},
            replace_existing=True,
            labels={"example": "threading_timer"},
        )
    if RUN_SECONDS:
        threading.Timer(RUN_SECONDS, worker.stop).start()
    worker.run()
