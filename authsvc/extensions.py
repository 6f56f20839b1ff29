"""Extension objects, created unbound here and bound to the app in `create_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Table
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Every model maps one Table (SQLAlchemy types `__table__` as any FromClause; this
    # narrowing is its maintainers' advice, sqlalchemy/sqlalchemy#9130).
    __table__: ClassVar[Table]


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:
    # `db.Model` is built at run time from `Base`, and mypy cannot subclass an attribute
    # (python/mypy#8603, the workaround of pallets-eco/flask-sqlalchemy#1186): models are
    # checked against the declarative base it is made from.
    Model = Base
else:
    Model = db.Model


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run by `db.session.execute` matched.

    The session types every result as a `Result`; for these statements it is a
    `CursorResult`, the one that carries `rowcount`.
    """
    return cast("CursorResult[Any]", result).rowcount
