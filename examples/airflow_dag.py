"""An Airflow DAG's schedule, moved to the cluster.

The original idea (the Airflow scheduler triggers DAG runs; tasks in order):

    from airflow import DAG
    from airflow.operators.python import PythonOperator

    with DAG("etl", schedule="*/2 * * * * *", start_date=datetime(2026, 1, 1), catchup=False):
        extract = PythonOperator(task_id="extract", python_callable=extract_fn)
        transform = PythonOperator(task_id="transform", python_callable=transform_fn)
        load = PythonOperator(task_id="load", python_callable=load_fn)
        extract >> transform >> load

On the cluster: a cron job (6 fields: seconds first, every 2 s) runs one
function that calls the three steps in order; catchup=False is coalesce
"latest" with a short misfire grace. `load` writes through
`schedulerd.fencing.sqlite`, so a DAG run's rows land exactly once even if
an attempt is retried or a paused worker wakes up late.
"""

import os
import sqlite3
import threading

import schedulerd

ADDR = os.environ.get("SCHEDULERD_ADDR", "127.0.0.1:7100")
RUN_SECONDS = float(os.environ.get("SCHEDULERD_RUN_SECONDS", "0"))  # 0: until Ctrl-C / SIGTERM
DB = os.environ.get("ETL_DB", "etl.db")

worker = schedulerd.Worker(ADDR, queues=["etl"])


def extract(ctx: schedulerd.JobContext) -> list[int]:
    return [1, 2, 3]


def transform(rows: list[int]) -> int:
    return sum(r * 10 for r in rows)


def load(ctx: schedulerd.JobContext, total: int) -> bool:
    conn = sqlite3.connect(DB, timeout=30)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS totals (run TEXT, total INTEGER)")
        conn.commit()
        with schedulerd.fencing.sqlite(conn, ctx) as ok:
            if ok:
                conn.execute("INSERT INTO totals VALUES (?, ?)", (ctx.occurrence_id, total))
        return bool(ok)
    finally:
        conn.close()


@worker.scheduled_job(
    "cron", id="airflow-etl", crontab="*/2 * * * * *", coalesce="latest",
    misfire_grace_time=1, labels={"example": "airflow_dag"},
)  # fmt: skip
@worker.function("etl")
def etl(ctx: schedulerd.JobContext) -> None:
    loaded = load(ctx, transform(extract(ctx)))
    print(f"ran {ctx.occurrence_id}: dag run loaded={loaded}", flush=True)


if __name__ == "__main__":
    if RUN_SECONDS:
        threading.Timer(RUN_SECONDS, worker.stop).start()
    worker.run()
