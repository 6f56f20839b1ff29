"""The unit of work of a use case: everything in the block commits together, or nothing does."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError

from authsvc.extensions import db

log = logging.getLogger(__name__)


@contextmanager
def transaction() -> Iterator[None]:
    """Commit the session's pending work when the block ends, roll it back when it raises.

    A refusal raised inside leaves nothing written, a failed commit (a constraint) too; a
    row that must outlive a refusal (a failure's audit event, a lockout entry) is written
    in a block of its own that ends before the refusal is raised. When storage is gone the
    rollback may fail too: the block's own error is the one that propagates.
    """
    try:
        yield
        db.session.commit()
    except BaseException:
        try:
            db.session.rollback()
        except DBAPIError:
            log.warning("rollback failed: storage unreachable", exc_info=True)
        raise
