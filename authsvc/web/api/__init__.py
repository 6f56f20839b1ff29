"""The HTTP layer: flask-smorest blueprints whose schemas both validate and document."""
from __future__ import annotations

import json
from http import HTTPStatus
from collections.abc import Callable, Collection
from typing import Any, NoReturn, TypeVar

import flask_smorest
import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from flask import Flask, Request, request
from webargs.flaskparser import FlaskParser, is_json_request

from authsvc.web.api.fields import to_items
from authsvc.core.tokens import BEARER_KINDS
from authsvc.web.credentials import require_token
from authsvc.core.errors import NotFound, ParseError, UnsupportedMediaType, ValidationFailed
from authsvc.core.principal import Client

F = TypeVar("F", bound=Callable[..., Any])


class Parser(FlaskParser):
    """Bodies must be JSON (415 otherwise); bad JSON is `parse_error`; bad fields are 400."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
                                   "json": ma.EXCLUDE, "form": ma.EXCLUDE,
                                   "json_or_form": ma.EXCLUDE, "query": ma.EXCLUDE}

    def _raw_load_json(self, req: Request) -> Any:
        data = req.get_data(cache=True)
        if not data:
            return {}
        if not is_json_request(req):
            raise UnsupportedMediaType()
        try:
            return json.loads(data.decode("utf-8"), parse_constant=_not_json)
        except RecursionError as exc:
            raise ParseError("The JSON body is nested too deeply.") from exc
        except ValueError as exc:  # also bad UTF-8, and numbers of more digits than Python reads
            raise ParseError() from exc

    def load_json_or_form(self, req: Request, schema: ma.Schema) -> Any:
        if req.mimetype == "application/x-www-form-urlencoded":
            return self.load_form(req, schema)
        return self.load_json(req, schema)

    def _handle_invalid_json_error(self, error: Exception, req: Request, *args: Any,
                                   **kwargs: Any) -> NoReturn:
        raise ParseError()

    def handle_error(self, error: ma.ValidationError, req: Request, schema: ma.Schema, *,
                     error_status_code: int | None, error_headers: Any) -> NoReturn:
        messages = error.messages
        if isinstance(messages, dict) and len(messages) == 1:
            (location,) = messages
            if location in self.__location_map__:
                messages = messages[location]
        raise ValidationFailed(to_items(messages))


def _not_json(constant: str) -> NoReturn:
    """NaN and Infinity: Python reads them, JSON (RFC 8259) has no such values."""
    raise ValueError(f"{constant} is not JSON")


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()

    def errors(self, *statuses: int) -> Callable[[F], F]:
        """Document the error answers a route can give, all in the envelope's schema."""
        from authsvc.web.api.schemas import ErrorSchema

        def decorator(func: F) -> F:
            for status in statuses:
                func = self.alt_response(status, schema=ErrorSchema,
                                         description=HTTPStatus(status).phrase)(func)
            return func

        return decorator


    def authenticated(self, kinds: Collection[str] = BEARER_KINDS) -> Callable[[F], F]:
        """Require a live token of `kinds` (checked before the body is read) and document it."""

        def decorator(func: F) -> F:
            func = require_token(kinds)(func)
            security = [{"bearer": []}] + ([{"apiKey": []}] if "private" in kinds else [])
            func = self.doc(security=security)(func)
            return self.errors(401, *([403] if "private" not in kinds else []))(func)

        return decorator


class _Converter(OpenAPIConverter):
    """Documents what a schema's `Meta.openapi` says of it: rules across fields (`oneOf`)."""

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        jsonschema = super().schema2jsonschema(schema)
        jsonschema.update(getattr(getattr(schema, "Meta", None), "openapi", {}))
        return jsonschema


class _Plugin(MarshmallowPlugin):
    Converter = _Converter


class Api(flask_smorest.Api):
    def __init__(self) -> None:
        from authsvc.web.api.schemas import ErrorSchema

        self.ERROR_SCHEMA = ErrorSchema
        super().__init__()

    def _register_error_handlers(self) -> None:
        """`errors.py` owns every error answer."""


def client() -> Client:
    return Client(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


def _no_nul_in_path(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An id with NUL in it names nothing (and PostgreSQL refuses to compare with it)."""
    if values and any(isinstance(v, str) and "\x00" in v for v in values.values()):
        raise NotFound()


api = Api()


def init_app(app: Flask) -> None:
    from authsvc.web.api import (audit, auth, discovery, introspection, oauth, oauth_clients,
                                 private_tokens, two_factor as totp, users)

    app.config.update(
        API_TITLE="authsvc", API_VERSION="v1", OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1", OPENAPI_JSON_PATH="openapi.json",
    )
    api.init_app(app, spec_kwargs={"info": {"description": "Token service: see README.md"},
                                   "marshmallow_plugin": _Plugin()})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                                   "bearerFormat": "JWT"})
    api.spec.components.security_scheme("clientBasic", {"type": "http", "scheme": "basic",
                                                        "description": "An OAuth client's id and secret."})
    api.spec.components.security_scheme("apiKey", {"type": "apiKey", "in": "header",
                                                   "name": "X-API-Key"})
    for module in (auth, users, discovery, totp, private_tokens, introspection, audit, oauth,
                   oauth_clients):
        api.register_blueprint(module.bp)
    app.url_value_preprocessor(_no_nul_in_path)
