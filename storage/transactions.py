"""Beginning and ending DuckDB transactions on long-lived cursors when statements fail, without
hiding why they failed, and telling a full memory pool from other failures."""

from __future__ import annotations

import duckdb


def begin(cursor: duckdb.DuckDBPyConnection) -> None:
    """BEGIN a transaction, first rolling back one that an earlier failure left on the cursor.

    While the pool is full a failure can leave a transaction aborted even after ``roll_back``:
    in a clean-clone CI run of ``tests/test_memory_bound.py`` the analysis worker's round after
    an out-of-memory one failed at its BEGIN with "Current transaction is aborted" (most likely
    the ROLLBACK itself ran out of memory). The writer and the analysis worker keep one cursor
    for their lifetime, so their next BEGIN, when memory may have freed, finishes the rollback
    instead of failing a round."""
    try:
        cursor.execute("BEGIN TRANSACTION")
    except duckdb.TransactionException as error:
        if "aborted" not in str(error) and "within a transaction" not in str(error):
            raise
        cursor.execute("ROLLBACK")
        cursor.execute("BEGIN TRANSACTION")


def roll_back(cursor: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK the cursor's transaction, if it still has one (an aborted one included).

    A COMMIT that fails (out of memory, a constraint) has already ended its transaction, and a
    ROLLBACK then raises "no transaction is active". Called from an ``except`` block, that error
    would replace the one that matters: the writer halves a group that runs out of memory at
    COMMIT, the analysis worker takes smaller rounds, and both need to see that it did. So may a
    BEGIN that runs out of memory, which can also leave a transaction aborted: callers BEGIN
    inside the block that calls this, or every later BEGIN on the cursor fails."""
    try:
        cursor.execute("ROLLBACK")
    except duckdb.TransactionException as error:
        if "no transaction is active" not in str(error):
            raise


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says DuckDB's buffer pool (``memory-limit``) was full. A statement raises
    ``OutOfMemoryException``; a COMMIT that cannot allocate raises a ``TransactionException``
    ("Failed to commit: could not allocate block ..."). Either way a smaller transaction, or the
    same one later, may fit: the writer halves its group, the analysis worker shrinks its rounds,
    a read answers 503."""
    return isinstance(error, duckdb.OutOfMemoryException) or (
        isinstance(error, duckdb.TransactionException) and "could not allocate" in str(error)
    )
