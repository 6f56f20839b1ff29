"""The unit of work of a use case: everything in the block commits together, or nothing does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from authsvc.extensions import db


@contextmanager
def transaction() -> Iterator[None]:
    """Commit the session's pending work when the block ends, roll it back when it raises.

    A refusal raised inside leaves nothing written, a failed commit (a constraint) too; a
    row that must outlive a refusal (a failure's audit event, a lockout entry) is written
    in a block of its own that ends before the refusal is raised.
    """
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
