"""The one private hook of a dependency that stays: gunicorn's `Response.force_close`.

gunicorn drops a `Connection: close` from the app (a hop-by-hop header), and no setting
closes one answer's connection, so `web/transport.py` calls `force_close()` on the response
behind `start_response`. setup.cfg pins gunicorn below the next major version; these tests
say at once when an upgrade moves the hook.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import pytest

wsgi = pytest.importorskip("gunicorn.http.wsgi")


def _response() -> Any:
    request = SimpleNamespace(should_close=lambda: False, method="GET", version=(1, 1))
    response = wsgi.Response(request, sock=None, cfg=SimpleNamespace())
    response.status_code = 200
    response.response_length = 2
    return response


def test_workers_hand_the_app_a_bound_method_of_the_response():
    response = _response()
    assert response.start_response.__self__ is response


def test_force_close_takes_nothing():
    assert list(inspect.signature(wsgi.Response.force_close).parameters) == ["self"]


def test_force_close_closes_a_connection_that_would_be_kept_alive():
    response = _response()
    assert response.should_close() is False
    response.force_close()
    assert response.should_close() is True


def test_a_connection_header_from_the_app_does_not_close_it():
    response = _response()
    response.process_headers([("Connection", "close"), ("Content-Length", "2")])
    assert response.should_close() is False


def test_transport_closes_through_the_hook():
    from authsvc.web.transport import _closing

    response = _response()
    assert _closing(response.start_response) == response.start_response
    assert response.should_close() is True
