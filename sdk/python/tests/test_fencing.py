"""schedulerd.fencing with sqlite3: duplicates, stale tokens, rollback, concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from schedulerd import SchedulerError, fencing


@dataclass
class Facts:
    job_id: str
    occurrence_id: str
    fencing_token: int


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS effects (occurrence_id TEXT, token INTEGER)")
    conn.commit()
    return conn


def write(conn: sqlite3.Connection, ctx: Facts, fence: str = "sqlite") -> fencing.Fence:
    cm = (
        fencing.sqlite(conn, ctx)
        if fence == "sqlite"
        else fencing.dbapi(conn, ctx, paramstyle="qmark", for_update=False)
    )
    with cm as ok:
        if ok:
            conn.execute(
                "INSERT INTO effects VALUES (?, ?)", (ctx.occurrence_id, ctx.fencing_token)
            )
    return ok


def rows(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    return [tuple(r) for r in conn.execute("SELECT * FROM effects ORDER BY token")]


FENCES = ["sqlite", "dbapi"]


@pytest.mark.parametrize("fence", FENCES)
def test_first_write_goes_ahead_and_is_committed(tmp_path: Path, fence: str) -> None:
    conn = connect(tmp_path / "db")
    ok = write(conn, Facts("j", "j@1", 10), fence)
    assert ok and ok.reason == "ok" and ok.highest_token is None
    other = connect(tmp_path / "db")  # another connection sees it: committed
    assert rows(other) == [("j@1", 10)]


@pytest.mark.parametrize("fence", FENCES)
def test_duplicate_occurrence_is_refused(tmp_path: Path, fence: str) -> None:
    conn = connect(tmp_path / "db")
    assert write(conn, Facts("j", "j@1", 10), fence)
    again = write(conn, Facts("j", "j@1", 11), fence)  # a retry of the same occurrence
    assert not again and again.reason == "duplicate" and again.highest_token == 10
    same = write(conn, Facts("j", "j@1", 10), fence)  # the same attempt twice
    assert not same and same.reason == "duplicate"
    assert rows(conn) == [("j@1", 10)]


@pytest.mark.parametrize("fence", FENCES)
def test_stale_token_is_refused(tmp_path: Path, fence: str) -> None:
    conn = connect(tmp_path / "db")
    assert write(conn, Facts("j", "j@2", 20), fence)
    late = write(conn, Facts("j", "j@1", 10), fence)  # an older attempt, another occurrence
    assert not late and late.reason == "stale" and late.highest_token == 20
    # Tokens are per job: another job's lower token is fine.
    assert write(conn, Facts("k", "k@1", 5), fence)
    # A higher token moves the fence up.
    assert write(conn, Facts("j", "j@3", 30), fence)
    assert not write(conn, Facts("j", "j@4", 25), fence)
    assert rows(conn) == [("k@1", 5), ("j@2", 20), ("j@3", 30)]


@pytest.mark.parametrize("fence", FENCES)
def test_exception_rolls_back_effect_and_token(tmp_path: Path, fence: str) -> None:
    conn = connect(tmp_path / "db")
    ctx = Facts("j", "j@1", 10)
    cm = (
        fencing.sqlite(conn, ctx)
        if fence == "sqlite"
        else fencing.dbapi(conn, ctx, paramstyle="qmark", for_update=False)
    )
    with pytest.raises(RuntimeError), cm as ok:
        assert ok
        conn.execute("INSERT INTO effects VALUES (?, ?)", ("j@1", 10))
        raise RuntimeError("the write failed half-way")
    assert rows(conn) == []
    # Nothing was recorded: the occurrence may still be written, even with a lower token.
    assert write(conn, Facts("j", "j@1", 9), fence)
    assert rows(conn) == [("j@1", 9)]


def test_refusal_writes_nothing_even_if_the_body_tries(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db")
    assert write(conn, Facts("j", "j@1", 10))
    with fencing.sqlite(conn, Facts("j", "j@1", 11)) as ok:
        assert not ok
        conn.execute("INSERT INTO effects VALUES ('sneaky', 11)")
    assert rows(conn) == [("j@1", 10)]


def test_open_transaction_is_an_error(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db")
    conn.execute("INSERT INTO effects VALUES ('pending', 1)")  # implicit BEGIN
    assert conn.in_transaction
    with pytest.raises(SchedulerError) as e, fencing.sqlite(conn, Facts("j", "j@1", 1)):
        pass
    assert e.value.field == "conn"


def test_bad_token_is_an_error(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db")
    with pytest.raises(SchedulerError) as e, fencing.sqlite(conn, Facts("j", "j@1", -1)):
        pass
    assert e.value.field == "fencing_token"


@pytest.mark.parametrize("fence", FENCES)
def test_concurrent_writers_one_effect_per_occurrence(tmp_path: Path, fence: str) -> None:
    """8 threads race on 40 occurrences of one job, each with its own attempt token.

    Exactly one effect per occurrence is accepted, and no accepted token is
    below a token accepted before it (the fence never goes backwards).
    """
    path = tmp_path / "db"
    connect(path).close()
    occurrences = 40
    threads = 8
    verdicts: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def run(t: int) -> None:
        conn = connect(path)
        barrier.wait()
        for i in range(occurrences):
            # Every thread tries every occurrence; tokens rise with i, thread t's
            # attempt of occurrence i has token i*100+t.
            ctx = Facts("j", f"j@{i}", i * 100 + t)
            ok = write(conn, ctx, fence)
            with lock:
                verdicts.append((ctx.occurrence_id, ctx.fencing_token, ok.reason))
        conn.close()

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert not w.is_alive(), "a writer thread hung"
    conn = connect(path)
    effects = rows(conn)
    occ = [o for o, _ in effects]
    assert len(occ) == len(set(occ)), "an occurrence has two effects"
    accepted = [(o, tok) for o, tok, r in verdicts if r == "ok"]
    assert sorted(accepted, key=lambda x: x[1]) == sorted(effects, key=lambda x: x[1])
    assert len(verdicts) == occurrences * threads
    assert {r for _, _, r in verdicts} <= {"ok", "duplicate", "stale"}
    # Accepted in commit order = rowid order: tokens never go down.
    tokens = [r[0] for r in conn.execute("SELECT token FROM effects ORDER BY rowid")]
    assert tokens == sorted(tokens)
    highest = conn.execute("SELECT highest_token FROM schedulerd_fence WHERE job_id='j'").fetchone()
    assert highest[0] == max(tokens)


def test_dbapi_paramstyles_rewrite_placeholders() -> None:
    from schedulerd.fencing import _params

    sql = "SELECT a FROM t WHERE x = ? AND y = ?"
    assert _params("qmark", sql, (1, 2)) == (sql, (1, 2))
    assert _params("format", sql, (1, 2)) == ("SELECT a FROM t WHERE x = %s AND y = %s", (1, 2))
    assert _params("numeric", sql, (1, 2))[0] == "SELECT a FROM t WHERE x = :1 AND y = :2"
    assert _params("named", sql, (1, 2)) == (
        "SELECT a FROM t WHERE x = :p0 AND y = :p1",
        {"p0": 1, "p1": 2},
    )
    assert _params("pyformat", sql, (1, 2))[0] == "SELECT a FROM t WHERE x = %(p0)s AND y = %(p1)s"


def test_dbapi_issues_select_for_update(tmp_path: Path) -> None:
    """With for_update (the default), the fence row is read with FOR UPDATE (PostgreSQL-style)."""
    seen: list[str] = []
    real = connect(tmp_path / "db")

    class Cursor:
        def __init__(self) -> None:
            self.c = real.cursor()

        def execute(self, sql: str, params: object) -> None:
            seen.append(sql)
            self.c.execute(sql.replace(" FOR UPDATE", "").replace("%s", "?"), params)

        def fetchone(self) -> object:
            return self.c.fetchone()

        def close(self) -> None:
            self.c.close()

    class Conn:
        def cursor(self) -> Cursor:
            return Cursor()

        def commit(self) -> None:
            real.commit()

        def rollback(self) -> None:
            real.rollback()

    with fencing.dbapi(Conn(), Facts("j", "j@1", 7)) as ok:
        assert ok
    assert any("FOR UPDATE" in s and "%s" in s for s in seen), seen
    assert real.execute("SELECT * FROM schedulerd_effects").fetchall() == [("j@1", "j", 7)]
