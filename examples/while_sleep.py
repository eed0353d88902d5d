"""`while True` + `time.sleep`, moved to the cluster.

The original idea (one process; if it dies, nothing runs; two copies run it twice):

    import time

    def job():
        print("checking the inbox")

    while True:
        job()
        time.sleep(1)

On the cluster: the job "every 1 second" lives in the replicated store, and
this process is only a worker that runs `job` when the leader says so. Start
it twice and each occurrence still runs exactly once.

    SCHEDULERD_ADDR=127.0.0.1:7100 python examples/while_sleep.py
"""

import os
import threading

import schedulerd

ADDR = os.environ.get("SCHEDULERD_ADDR", "127.0.0.1:7100")
RUN_SECONDS = float(os.environ.get("SCHEDULERD_RUN_SECONDS", "0"))  # 0: until Ctrl-C / SIGTERM

worker = schedulerd.Worker(ADDR, queues=["inbox"])


@worker.scheduled_job("interval", id="while-sleep", seconds=1, labels={"example": "while_sleep"})
@worker.function("job")
def job(ctx: schedulerd.JobContext) -> None:
    print(f"ran {ctx.occurrence_id} token={ctx.fencing_token}: checking the inbox", flush=True)


if __name__ == "__main__":
    if RUN_SECONDS:
        threading.Timer(RUN_SECONDS, worker.stop).start()
    worker.run()
