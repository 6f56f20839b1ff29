"""authsvc: the token service every other service trusts to say who is calling.

Importing `authsvc` loads nothing but this file, so that `authsvc.verifier` (and
`authsvc.core`) serve resource servers that lack Flask, SQLAlchemy and the rest of the
server; `create_app` loads the server when it is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The Flask app (Flask's tutorial's factory): `flask --app authsvc run` calls it.

    A real start (no `test_config`) with a bad setting exits with one line naming the
    setting and what is wrong, and status 2: a person reads it, not a traceback. Tests
    (and `test_config` callers) get the `ConfigError` itself.
    """
    from authsvc.config import ConfigError
    from authsvc.web.app import create_app as _create_app

    try:
        return _create_app(test_config)
    except ConfigError as exc:
        if test_config is not None:
            raise
        import sys

        print(f"authsvc: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
