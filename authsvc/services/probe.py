"""The hot paths' statements, run on DBAPI connections kept for them (docs/performance.md).

A token check is one primary-key probe; through the ORM session and a pool checkout per
request, SQLAlchemy's bookkeeping cost several times the database's own work. Here each
statement is compiled once per dialect (Core, so it stays typed and dialect-neutral), and
run on a driver connection this process keeps checked out of the engine's pool: sqlite3
caches the prepared statement per connection, psycopg 3 prepares it server-side after a
few executions. Nothing is cached but connections: every read sees what was committed
before it started (reads run outside any transaction: autocommit on PostgreSQL, and on
SQLite a statement stepped to its end), so a revocation committed on any host is seen by
the next request. A connection that fails is thrown away; a read, or a write that failed
before its COMMIT, is tried once more on a fresh connection (what `pool_pre_ping` did).
"""

from __future__ import annotations

import collections
import contextlib
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from sqlalchemy import Engine, event
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import ClauseElement

from authsvc.extensions import db

_KEPT = 8  # driver connections kept per engine; beyond that they go back to the pool


class _Compiled(NamedTuple):
    sql: str
    order: tuple[str, ...] | None  # positional paramstyle: the bind names in order
    defaults: dict[str, Any]
    binders: tuple[tuple[str, Callable[[Any], Any]], ...]
    row: Callable[..., Any] | None
    processors: tuple[Callable[[Any], Any] | None, ...]


class Statement:
    """A Core statement compiled once per dialect, its results built as named tuples."""

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt: Any = stmt  # also run through the ORM session where a transaction needs it
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _compile(self.stmt, dialect)
        return found


def _compile(stmt: ClauseElement, dialect: Dialect) -> _Compiled:
    compiled = stmt.compile(dialect=dialect)
    binds = compiled.binds  # type: ignore[attr-defined]
    defaults = {name: b.effective_value for name, b in binds.items() if not b.required}
    binders = []
    for name, bind in binds.items():
        processor = bind.type._cached_bind_processor(dialect)  # what SQLAlchemy runs itself
        if processor is not None:
            binders.append((name, processor))
    columns = list(getattr(stmt, "selected_columns", ()))
    row: Callable[..., Any] | None = None
    processors: tuple[Callable[[Any], Any] | None, ...] = ()
    if columns:
        row = collections.namedtuple("Row", [c.key for c in columns])  # type: ignore[misc,no-redef]
        processors = tuple(c.type._cached_result_processor(dialect, None) for c in columns)
    positional = compiled.positiontup if compiled.positional else None  # type: ignore[attr-defined]
    return _Compiled(
        compiled.string,
        tuple(positional) if positional is not None else None,
        defaults,
        tuple(binders),
        row,
        processors,
    )


def _params(c: _Compiled, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
    values = {**c.defaults, **params} if c.defaults else dict(params)
    for name, processor in c.binders:
        if name in values:
            values[name] = processor(values[name])
    if c.order is not None:
        return tuple(values[name] for name in c.order)
    return values


class _Kept:
    """The driver connections one engine lends to this module, per process."""

    def __init__(self, engine: Engine) -> None:
        # Weakly: the engine is this object's key; when it goes, so do its kept connections.
        self._engine = weakref.ref(engine)
        self.free: list[Any] = []  # pool "fairies" kept checked out; pop/append never yield
        self.postgres = engine.dialect.name == "postgresql"

    def take(self) -> Any:
        try:
            return self.free.pop()
        except IndexError:
            pass
        engine = self._engine()
        assert engine is not None  # a caller holds it
        try:
            fairy = engine.raw_connection()
        except engine.dialect.loaded_dbapi.Error as exc:  # raw_connection does not wrap it
            raise _wrap(engine, "(connect)", (), exc) from exc
        if self.postgres:
            fairy.driver_connection.autocommit = True  # type: ignore[union-attr]
        return fairy

    def give(self, fairy: Any) -> None:
        if len(self.free) < _KEPT:
            self.free.append(fairy)
            return
        if self.postgres:
            fairy.driver_connection.autocommit = False
        fairy.close()

    def drop(self, fairy: Any) -> None:
        with contextlib.suppress(Exception):  # already broken; the pool forgets it either way
            fairy.invalidate()


_KEPT_BY_ENGINE: weakref.WeakKeyDictionary[Engine, _Kept] = weakref.WeakKeyDictionary()


def _kept(engine: Engine) -> _Kept:
    kept = _KEPT_BY_ENGINE.get(engine)
    if kept is None:
        kept = _KEPT_BY_ENGINE[engine] = _Kept(engine)
        if not event.contains(engine, "engine_disposed", _release):
            event.listen(engine, "engine_disposed", _release)
    return kept


def _release(engine: Engine) -> None:
    """`Engine.dispose()` closes the pool's idle connections but not those checked out, which
    the kept ones are: close them too, or each disposed engine would hold its connections
    open until it is collected (PostgreSQL counts them against max_connections)."""
    kept = _KEPT_BY_ENGINE.pop(engine, None)
    if kept is None:
        return
    while kept.free:
        kept.drop(kept.free.pop())


def _wrap(engine: Engine, sql: str, params: Any, exc: Exception) -> Exception:
    dbapi = engine.dialect.loaded_dbapi
    return DBAPIError.instance(sql, params, exc, dbapi.Error)


def first(statement: Statement, params: Mapping[str, Any]) -> Any:
    """The first row of a SELECT (a named tuple), or None."""
    engine = db.engine
    c = statement.compiled(engine.dialect)
    bound = _params(c, params)
    kept = _kept(engine)
    for attempt in (1, 2):
        fairy = kept.take()
        try:
            cursor = fairy.driver_connection.cursor()
            cursor.execute(c.sql, bound)
            rows = cursor.fetchall()  # stepped to the end: no read transaction stays open
            cursor.close()
        except engine.dialect.loaded_dbapi.Error as exc:
            kept.drop(fairy)
            if attempt == 2:
                raise _wrap(engine, c.sql, bound, exc) from exc
            continue
        kept.give(fairy)
        if not rows:
            return None
        return _row(c, rows[0])
    raise AssertionError("unreachable")  # pragma: no cover


class Writer:
    """Statements of one short write transaction; `run` answers each one's row count."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def run(self, statement: Statement, params: Mapping[str, Any]) -> int:
        c = statement.compiled(self._dialect)
        self._cursor.execute(c.sql, _params(c, params))
        return int(self._cursor.rowcount)

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def rows(self, statement: Statement, params: Mapping[str, Any]) -> list[Any]:
        """Every row of a SELECT inside the transaction, as named tuples."""
        c = statement.compiled(self._dialect)
        self._cursor.execute(c.sql, _params(c, params))
        return [_row(c, raw) for raw in self._cursor.fetchall()]


@contextmanager
def writing(engine: Engine | None = None) -> Iterator[Writer]:
    """One write transaction, begun as a writer (SQLite: `BEGIN IMMEDIATE`, so the lock is
    taken up front and held only for the statements), committed on a clean exit, rolled
    back otherwise. The body runs statements only: sign or compute before entering.
    `engine`: another than the app's (the failed-login log may have its own)."""
    engine = engine or db.engine
    kept = _kept(engine)
    begin = "BEGIN" if kept.postgres else "BEGIN IMMEDIATE"
    for attempt in (1, 2):
        fairy = kept.take()
        cursor = fairy.driver_connection.cursor()
        try:
            cursor.execute(begin)
        except engine.dialect.loaded_dbapi.Error as exc:
            kept.drop(fairy)
            if attempt == 2:
                raise _wrap(engine, begin, (), exc) from exc
            continue
        break
    try:
        yield Writer(cursor, engine.dialect)
        cursor.execute("COMMIT")
    except engine.dialect.loaded_dbapi.Error as exc:
        # The cursor first: a closed sqlite3 connection whose cursor still holds the failed
        # statement stays open underneath (sqlite3_close_v2), keeping the write lock, until
        # the exception's frames are collected.
        with contextlib.suppress(Exception):
            cursor.close()
        kept.drop(fairy)
        raise _wrap(engine, "COMMIT", (), exc) from exc
    except BaseException:
        try:
            cursor.execute("ROLLBACK")
            cursor.close()
            kept.give(fairy)
        except engine.dialect.loaded_dbapi.Error:
            kept.drop(fairy)
        raise
    cursor.close()
    kept.give(fairy)


def write_alone(statement: Statement, params: Mapping[str, Any]) -> int:
    """One write statement that is a whole transaction by itself; answers its row count.

    On PostgreSQL it runs in autocommit: its implicit transaction commits as the statement
    ends, so the statement and its COMMIT are one round trip (`writing` takes four for
    BEGIN, two statements and COMMIT). A data-modifying CTE makes several writes one such
    statement. Not retried: a connection lost after the server committed cannot be told
    from one lost before it, so the caller answers as for a failed COMMIT. On SQLite (no
    round trips to save) it is a `writing` transaction of the one statement.
    """
    return _alone(statement, params)[0]


def write_alone_first(statement: Statement, params: Mapping[str, Any]) -> Any:
    """`write_alone` of a SELECT over data-modifying CTEs, which answers what the writes
    made (a sequence's value, say): its first row, as a named tuple, or None."""
    return _alone(statement, params)[1]


def _alone(statement: Statement, params: Mapping[str, Any]) -> tuple[int, Any]:
    engine = db.engine
    kept = _kept(engine)
    c = statement.compiled(engine.dialect)
    if not kept.postgres:
        with writing() as write:
            if c.row is None:
                return write.run(statement, params), None
            rows = write.rows(statement, params)
            return len(rows), rows[0] if rows else None
    bound = _params(c, params)
    fairy = kept.take()
    try:
        cursor = fairy.driver_connection.cursor()
        cursor.execute(c.sql, bound)
        count = int(cursor.rowcount)
        raw = cursor.fetchone() if c.row is not None else None
        cursor.close()
    except engine.dialect.loaded_dbapi.Error as exc:
        kept.drop(fairy)  # the transaction ended with the statement: nothing is left open
        raise _wrap(engine, c.sql, bound, exc) from exc
    kept.give(fairy)
    return count, None if raw is None else _row(c, raw)


def _row(c: _Compiled, raw: Sequence[Any]) -> Any:
    assert c.row is not None
    return c.row(*(v if p is None else p(v) for p, v in zip(c.processors, raw, strict=True)))
