"""A failed COMMIT keeps its own error: ``storage.transactions.roll_back`` after it does not
replace it with "no transaction is active" (the writer and the analysis worker decide what to do
by that error: out of memory at COMMIT means smaller commits, not a retry of the same one)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from journeytrace.storage.transactions import roll_back


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
