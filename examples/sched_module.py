"""The standard library's `sched`, moved to the cluster.

The original idea (an in-process event queue, run by `s.run()`):

    import sched, time

    s = sched.scheduler(time.time, time.sleep)

    def print_event(name):
        print("EVENT:", time.time(), name)

    s.enter(2, 1, print_event, argument=("first",))
    s.enter(3, 1, print_event, argument=("second",))
    s.run()

On the cluster: two one-shot jobs, each with its argument, run once each.
"""

import os
import threading
import time
from datetime import UTC, datetime, timedelta

import schedulerd

ADDR = os.environ.get("SCHEDULERD_ADDR", "127.0.0.1:7100")
RUN_SECONDS = float(os.environ.get("SCHEDULERD_RUN_SECONDS", "0"))  # 0: until Ctrl-C / SIGTERM

worker = schedulerd.Worker(ADDR, queues=["sched"])


@worker.function("print_event")
def print_event(ctx: schedulerd.JobContext) -> None:
    print(f"ran {ctx.occurrence_id}: EVENT: {time.time():.0f} {ctx.args[0]}", flush=True)


if __name__ == "__main__":
    now = datetime.now(UTC)
    with schedulerd.Client(ADDR) as client:
        for delay, name in ((2, "first"), (3, "second")):
            client.add_job(
                f"sched-{name}",
                print_event,
                "date",
                run_date=now + timedelta(seconds=delay),
                args=[name],
                replace_existing=True,
                labels={"example": "sched_module"},
            )
    if RUN_SECONDS:
        threading.Timer(RUN_SECONDS, worker.stop).start()
    worker.run()
