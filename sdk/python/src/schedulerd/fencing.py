"""Fences for SQL sinks: exactly one effect per occurrence, never a stale token.

In the same transaction as your write, the fence records the highest
fencing token accepted per job and the occurrence whose effect it is.
It refuses a write whose token is lower than the highest accepted for the
job (``reason == "stale"``: a newer attempt has written) and a second write
for the same occurrence (``reason == "duplicate"``).

.. code-block:: python

    with schedulerd.fencing.sqlite(conn, ctx) as ok:
        if ok:                                   # False: duplicate or stale, write nothing
            conn.execute("INSERT INTO t VALUES (?)", (ctx.occurrence_id,))
    # committed on success, rolled back on an exception (or when refused)
"""

from __future__ import annotations

import sqlite3 as _sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .errors import SchedulerError

__all__ = ["Fence", "FenceFacts", "dbapi", "sqlite"]

FENCE_TABLE = "schedulerd_fence"
EFFECTS_TABLE = "schedulerd_effects"


class FenceFacts(Protocol):
    """What a fence needs of a JobContext."""

    @property
    def job_id(self) -> str: ...
    @property
    def occurrence_id(self) -> str: ...
    @property
    def fencing_token(self) -> int: ...


@dataclass(frozen=True)
class Fence:
    """The fence's verdict; true when the write may go ahead.

    ``reason`` is ``"ok"``, ``"stale"`` (a higher token was accepted for the
    job) or ``"duplicate"`` (this occurrence already has its effect).
    ``highest_token`` is the highest token accepted for the job before this one.
    """

    ok: bool
    reason: Literal["ok", "stale", "duplicate"]
    highest_token: int | None
    token: int

    def __bool__(self) -> bool:
        return self.ok


def _verdict(
    token: int, highest: int | None, effect_token: int | None
) -> tuple[bool, Literal["ok", "stale", "duplicate"]]:
    if highest is not None and token < highest:
        return False, "stale"
    if effect_token is not None:
        return False, "duplicate"
    return True, "ok"


def _check_token(ctx: FenceFacts) -> int:
    token = ctx.fencing_token
    if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token < 2**63:
        raise SchedulerError(f"{token!r} is not a fencing token", "fencing_token")
    return token


@contextmanager
def sqlite(
    conn: _sqlite3.Connection,
    ctx: FenceFacts,
    *,
    fence_table: str = FENCE_TABLE,
    effects_table: str = EFFECTS_TABLE,
) -> Iterator[Fence]:
    """Fences a write to SQLite; see the module. The connection must not be in a transaction.

    Takes the write lock at once (``BEGIN IMMEDIATE``), so the token check
    and the write are one atomic step across threads and processes (give
    the connection a ``timeout`` for concurrent writers).
    """
    token = _check_token(ctx)
    if conn.in_transaction:
        raise SchedulerError(
            "the connection has an open transaction; commit or roll it back first", "conn"
        )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {fence_table} "
        "(job_id TEXT PRIMARY KEY, highest_token INTEGER NOT NULL)"
    )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {effects_table} "
        "(occurrence_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, token INTEGER NOT NULL)"
    )
    if conn.in_transaction:  # the module may have opened one for the DDL
        conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            f"SELECT highest_token FROM {fence_table} WHERE job_id = ?", (ctx.job_id,)
        ).fetchone()
        highest = None if row is None else int(row[0])
        row = conn.execute(
            f"SELECT token FROM {effects_table} WHERE occurrence_id = ?", (ctx.occurrence_id,)
        ).fetchone()
        ok, reason = _verdict(token, highest, None if row is None else int(row[0]))
        if ok:
            conn.execute(
                f"INSERT INTO {fence_table} (job_id, highest_token) VALUES (?, ?) "
                "ON CONFLICT(job_id) DO UPDATE SET highest_token = "
                "MAX(highest_token, excluded.highest_token)",
                (ctx.job_id, token),
            )
            conn.execute(
                f"INSERT INTO {effects_table} (occurrence_id, job_id, token) VALUES (?, ?, ?)",
                (ctx.occurrence_id, ctx.job_id, token),
            )
        yield Fence(ok, reason, highest, token)
    except BaseException:
        conn.rollback()
        raise
    if ok:
        conn.commit()
    else:
        conn.rollback()


class _DBAPIConnection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


_PARAMSTYLES = ("qmark", "format", "pyformat", "numeric", "named")


def _params(paramstyle: str, sql: str, values: Sequence[Any]) -> tuple[str, Any]:
    """Rewrites ``?`` placeholders into ``paramstyle``."""
    parts = sql.split("?")
    if paramstyle == "qmark":
        return sql, tuple(values)
    out = parts[0]
    for i, part in enumerate(parts[1:]):
        if paramstyle == "format":
            out += "%s"
        elif paramstyle == "numeric":
            out += f":{i + 1}"
        elif paramstyle == "named":
            out += f":p{i}"
        else:  # pyformat
            out += f"%(p{i})s"
        out += part
    if paramstyle in ("named", "pyformat"):
        return out, {f"p{i}": v for i, v in enumerate(values)}
    return out, tuple(values)


@contextmanager
def dbapi(
    conn: _DBAPIConnection,
    ctx: FenceFacts,
    paramstyle: str = "format",
    *,
    for_update: bool = True,
    create_tables: bool = True,
    fence_table: str = FENCE_TABLE,
    effects_table: str = EFFECTS_TABLE,
) -> Iterator[Fence]:
    """Fences a write on any DB-API 2.0 connection (PostgreSQL-style SQL).

    ``paramstyle`` is the driver's (psycopg: "format" or "pyformat"; sqlite3:
    "qmark"). The job's fence row is created first (``INSERT ... ON CONFLICT
    DO NOTHING``) and then read with ``SELECT ... FOR UPDATE`` (turn that off
    with ``for_update=False`` where it is not supported, e.g. SQLite, whose
    first INSERT takes the write lock anyway), so concurrent attempts of one
    job are serialised on that row. The connection's current transaction is
    used; it is committed on success and rolled back on an exception or a refusal.
    """
    if paramstyle not in _PARAMSTYLES:
        raise SchedulerError(f"{paramstyle!r} is not one of {_PARAMSTYLES}", "paramstyle")
    token = _check_token(ctx)
    cur = conn.cursor()

    def q(sql: str, *values: Any) -> Any:
        stmt, params = _params(paramstyle, sql, values)
        cur.execute(stmt, params)
        return cur

    try:
        if create_tables:
            q(
                f"CREATE TABLE IF NOT EXISTS {fence_table} "
                "(job_id VARCHAR(128) PRIMARY KEY, highest_token BIGINT NOT NULL)"
            )
            q(
                f"CREATE TABLE IF NOT EXISTS {effects_table} (occurrence_id VARCHAR(200) "
                "PRIMARY KEY, job_id VARCHAR(128) NOT NULL, token BIGINT NOT NULL)"
            )
        q(
            f"INSERT INTO {fence_table} (job_id, highest_token) VALUES (?, ?) "
            "ON CONFLICT (job_id) DO NOTHING",
            ctx.job_id,
            -1,
        )
        lock = " FOR UPDATE" if for_update else ""
        row = q(
            f"SELECT highest_token FROM {fence_table} WHERE job_id = ?{lock}", ctx.job_id
        ).fetchone()
        highest = None if row is None or int(row[0]) < 0 else int(row[0])
        row = q(
            f"SELECT token FROM {effects_table} WHERE occurrence_id = ?", ctx.occurrence_id
        ).fetchone()
        ok, reason = _verdict(token, highest, None if row is None else int(row[0]))
        if ok:
            q(
                f"UPDATE {fence_table} SET highest_token = ? WHERE job_id = ? AND highest_token < ?",
                token,
                ctx.job_id,
                token,
            )
            q(
                f"INSERT INTO {effects_table} (occurrence_id, job_id, token) VALUES (?, ?, ?)",
                ctx.occurrence_id,
                ctx.job_id,
                token,
            )
        yield Fence(ok, reason, highest, token)
    except BaseException:
        conn.rollback()
        raise
    finally:
        cur.close()
    if ok:
        conn.commit()
    else:
        conn.rollback()
