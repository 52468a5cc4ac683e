"""A failed COMMIT keeps its own error: ``storage.transactions.roll_back`` after it does not
replace it with "no transaction is active" (the writer and the analysis worker decide what to do
by that error: out of memory at COMMIT means smaller commits, not a retry of the same one), and
``begin`` recovers a cursor whose ROLLBACK itself failed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from journeytrace.storage.transactions import begin, out_of_memory, roll_back


def _failed_commit(path: Path) -> None:
    """Two transactions insert the same key; the second's COMMIT fails, then is rolled back as
    the writer does."""
    db = duckdb.connect(str(path))
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    first, second = db.cursor(), db.cursor()
    first.execute("BEGIN")
    second.execute("BEGIN")
    first.execute("INSERT INTO t VALUES (1)")
    second.execute("INSERT INTO t VALUES (1)")
    first.execute("COMMIT")
    try:
        second.execute("COMMIT")
    except BaseException:
        roll_back(second)
        raise
    finally:
        second.execute("BEGIN")  # the cursor is usable again
        second.execute("ROLLBACK")


def test_a_failed_commit_raises_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(duckdb.TransactionException, match="PRIMARY KEY"):
        _failed_commit(tmp_path / "t.duckdb")


def test_roll_back_ends_an_open_transaction(tmp_path: Path) -> None:
    db = duckdb.connect(str(tmp_path / "t.duckdb"))
    db.execute("CREATE TABLE t (k INTEGER)")
    db.execute("BEGIN")
    db.execute("INSERT INTO t VALUES (1)")
    roll_back(db)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
    roll_back(db)  # none open: nothing to do, no error


def test_a_full_pool_is_told_from_other_failures(tmp_path: Path) -> None:
    """DuckDB reports a full pool at COMMIT as a TransactionException with this wording (seen in
    ``tests/test_memory_bound.py``'s server log); a constraint failing at COMMIT is not one."""
    with pytest.raises(duckdb.TransactionException) as constraint:
        _failed_commit(tmp_path / "t.duckdb")
    assert not out_of_memory(constraint.value)
    at_commit = duckdb.TransactionException(
        "TransactionContext Error: Failed to commit: could not allocate block of size 256.0 KiB (45.8 MiB/45.7 MiB used)"
    )
    assert out_of_memory(at_commit) and out_of_memory(duckdb.OutOfMemoryException("Out of Memory Error"))
    assert not out_of_memory(duckdb.CatalogException("Table with name nope does not exist"))


def test_begin_finishes_a_transaction_left_aborted(tmp_path: Path) -> None:
    """A ROLLBACK that fails (out of memory) leaves its transaction aborted; the next ``begin``
    on the cursor rolls it back and starts a fresh one, where a plain BEGIN fails."""
    db = duckdb.connect(str(tmp_path / "t.duckdb"))
    db.execute("CREATE TABLE t (k INTEGER)")
    db.execute("BEGIN")
    db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(duckdb.CatalogException):
        db.execute("SELECT * FROM nope")  # aborts the transaction, as a failed ROLLBACK leaves it
    with pytest.raises(duckdb.TransactionException, match="aborted"):
        db.execute("BEGIN TRANSACTION")
    begin(db)
    db.execute("INSERT INTO t VALUES (2)")
    db.execute("COMMIT")
    assert db.execute("SELECT k FROM t").fetchall() == [(2,)]  # the aborted transaction's row is gone
    db.execute("BEGIN")
    begin(db)  # one still open (not aborted) is rolled back too
    db.execute("ROLLBACK")
