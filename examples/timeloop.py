"""Timeloop, moved to the cluster.

The original idea (jobs in background threads of one process):

    from datetime import timedelta
    from timeloop import Timeloop

    tl = Timeloop()

    @tl.job(interval=timedelta(seconds=2))
    def sample_job_every_2s():
        print("2s job current time")

    tl.start(block=True)

On the cluster: the same decorator shape. `@worker.scheduled_job` registers
the job by id when the worker starts (the same spec again changes nothing),
and the leader fires it every 2 seconds, on whichever worker is alive.
"""

import os
import threading
from datetime import datetime

import schedulerd

ADDR = os.environ.get("SCHEDULERD_ADDR", "127.0.0.1:7100")
RUN_SECONDS = float(os.environ.get("SCHEDULERD_RUN_SECONDS", "0"))  # 0: until Ctrl-C / SIGTERM

tl = schedulerd.Worker(ADDR, queues=["timeloop"])


@tl.scheduled_job("interval", id="timeloop-2s", seconds=2, labels={"example": "timeloop"})
@tl.function("sample_job_every_2s")
def sample_job_every_2s(ctx: schedulerd.JobContext) -> None:
    print(f"ran {ctx.occurrence_id}: 2s job current time {datetime.now():%H:%M:%S}", flush=True)


if __name__ == "__main__":
    if RUN_SECONDS:
        threading.Timer(RUN_SECONDS, tl.stop).start()
    tl.run()  # SIGTERM drains: running jobs finish and report
