"""The HTTP layer: flask-smorest blueprints whose schemas both validate and document."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection
from http import HTTPStatus
from typing import Any, NoReturn, TypedDict, TypeVar, Unpack

import flask_smorest  # type: ignore[import-untyped]  # ships no type hints (0.47): typed below
import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import Flask, Request, Response, current_app, request
from flask.json.provider import DefaultJSONProvider
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException

from authsvc.core.errors import NotFound, ParseError, UnsupportedMediaType, ValidationFailed
from authsvc.core.principal import Client
from authsvc.core.tokens import BEARER_KINDS
from authsvc.web import errors
from authsvc.web.api.fields import to_items
from authsvc.web.credentials import require_token

F = TypeVar("F", bound=Callable[..., Any])


# Unknown members are dropped, not refused. A module constant: webargs declares the class
# attribute as an instance variable, so it cannot be annotated `ClassVar` here.
_UNKNOWN_BY_LOCATION: dict[str, str | None] = {
    **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
    "json": ma.EXCLUDE,
    "form": ma.EXCLUDE,
    "json_or_form": ma.EXCLUDE,
    "query": ma.EXCLUDE,
}


class Parser(FlaskParser):
    """Bodies must be JSON (415 otherwise); bad JSON is `parse_error`; bad fields are 400."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION = _UNKNOWN_BY_LOCATION

    def load_json(self, req: Request, schema: ma.Schema) -> Any:
        """webargs' public loader for the `json` location, replaced whole: its own version
        relies on hooks webargs declares private (`_raw_load_json`)."""
        data = req.get_data(cache=True)
        if not data:
            return {}
        if not is_json_request(req):
            raise UnsupportedMediaType()
        try:
            return current_app.json.loads(data.decode("utf-8"))  # StrictJSONProvider
        except RecursionError as exc:
            raise ParseError("The JSON body is nested too deeply.") from exc
        except ValueError as exc:  # also bad UTF-8, and numbers of more digits than Python reads
            raise ParseError() from exc

    def load_json_or_form(self, req: Request, schema: ma.Schema) -> Any:
        if req.mimetype == "application/x-www-form-urlencoded":
            return self.load_form(req, schema)
        return self.load_json(req, schema)

    def handle_error(
        self,
        error: ma.ValidationError,
        req: Request,
        schema: ma.Schema,
        *,
        error_status_code: int | None,
        error_headers: Any,
    ) -> NoReturn:
        messages = error.messages
        if isinstance(messages, dict) and len(messages) == 1:
            (location,) = messages
            if location in self.__location_map__:
                messages = messages[location]
        raise ValidationFailed(to_items(messages))


def _not_json(constant: str) -> NoReturn:
    """NaN and Infinity: Python reads them, JSON (RFC 8259) has no such values."""
    raise ValueError(f"{constant} is not JSON")


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose member names repeat is refused, not read "last one wins": a proxy or
    a WAF that reads the first one would see another request than the service does."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def loads_strict(text: str | bytes, **kwargs: Any) -> Any:
    """JSON as RFC 8259 reads it, strictly: no NaN/Infinity, no repeated member names."""
    return json.loads(text, parse_constant=_not_json, object_pairs_hook=_unique_names, **kwargs)


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with the same strict reading (`request.get_json()` included)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_strict(s, **kwargs)


SchemaArg = type[ma.Schema] | ma.Schema | str | dict[str, Any]
"""What flask-smorest documents a schema as: a class, an instance, a reference or a dict."""


class ArgumentsOptions(TypedDict, total=False):
    """`Blueprint.arguments`' keywords (flask-smorest keeps the defaults)."""

    location: str
    content_type: str
    required: bool
    description: str
    example: Any
    examples: dict[str, Any]
    as_kwargs: bool
    unknown: str | None


class ResponseOptions(TypedDict, total=False):
    """`Blueprint.response`' keywords (flask-smorest keeps the defaults)."""

    content_type: str
    description: str
    example: Any
    examples: dict[str, Any]
    headers: dict[str, Any]


class AltResponseOptions(ResponseOptions, total=False):
    schema: SchemaArg
    success: bool


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # untyped base: typed here
    """flask-smorest's Blueprint with typed decorators: each returns the view's own type, so
    that the views stay type-checked under the decorators (mypy sees the untyped library's
    decorators as `Any`, and a view under one as untyped). Behaviour is the library's."""

    ARGUMENTS_PARSER = Parser()

    def route(
        self,
        rule: str,
        *,
        parameters: list[Any] | None = None,
        tags: list[str] | None = None,
        **options: Any,
    ) -> Callable[[F], F]:
        decorator: Callable[[F], F] = super().route(
            rule, parameters=parameters, tags=tags, **options
        )
        return decorator

    def arguments(self, schema: SchemaArg, **options: Unpack[ArgumentsOptions]) -> Callable[[F], F]:
        decorator: Callable[[F], F] = super().arguments(schema, **options)
        return decorator

    def response(
        self,
        status_code: int,
        schema: SchemaArg | None = None,
        **options: Unpack[ResponseOptions],
    ) -> Callable[[F], F]:
        decorator: Callable[[F], F] = super().response(status_code, schema, **options)
        return decorator

    def alt_response(
        self,
        status_code: int | str,
        response: str | None = None,
        **options: Unpack[AltResponseOptions],
    ) -> Callable[[F], F]:
        decorator: Callable[[F], F] = super().alt_response(status_code, response, **options)
        return decorator

    @staticmethod
    def doc(**kwargs: Any) -> Callable[[F], F]:
        """OpenAPI operation members, copied verbatim into the document."""
        decorator: Callable[[F], F] = flask_smorest.Blueprint.doc(**kwargs)
        return decorator

    def errors(self, *statuses: int) -> Callable[[F], F]:
        """Document the error answers a route can give, all in the envelope's schema (one
        instance for every route: given the class, flask-smorest makes one per status)."""

        def decorator(func: F) -> F:
            for status in statuses:
                func = self.alt_response(
                    status, schema=_error_schema(), description=HTTPStatus(status).phrase
                )(func)
            return func

        return decorator

    def authenticated(self, kinds: Collection[str] = BEARER_KINDS) -> Callable[[F], F]:
        """Require a live token of `kinds` (checked before the body is read) and document it."""

        def decorator(func: F) -> F:
            func = require_token(kinds)(func)
            security: list[dict[str, list[str]]] = [{"bearer": []}]
            if "private" in kinds:
                security.append({"apiKey": []})
            func = self.doc(security=security)(func)
            return self.errors(401, *([403] if "private" not in kinds else []))(func)

        return decorator


@functools.cache
def _error_schema() -> Any:
    from authsvc.web.api.schemas import ErrorSchema

    return ErrorSchema()


class _Converter(OpenAPIConverter):
    """marshmallow -> JSON Schema, with what generated clients and validators need.

    - `Meta.openapi` of a schema is merged in (rules across fields, in words or keywords);
    - a `default` of None is left out where the type does not allow null (a non-nullable
      field that is merely optional has no default to show; OpenAPI 3.1 validators refuse it);
    - read-only fields (`fields.ReadOnly`, which exist only to answer `400 read_only`) are
      not properties of a request body: the schema's description names them instead, so a
      generated client offers no setter for what the server always refuses.
    """

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        from authsvc.web.api.fields import ReadOnly

        # apispec (typed elsewhere) leaves this method unannotated.
        jsonschema: dict[str, Any] = super().schema2jsonschema(schema)  # type: ignore[no-untyped-call]
        instance = schema() if isinstance(schema, type) else schema
        read_only = [
            field.data_key or name
            for name, field in instance.fields.items()
            if isinstance(field, ReadOnly)
        ]
        properties = jsonschema.get("properties", {})
        for name in read_only:
            properties.pop(name, None)
        if read_only:
            if "required" in jsonschema:
                jsonschema["required"] = [n for n in jsonschema["required"] if n not in read_only]
            note = (
                "Read-only here: "
                + ", ".join(f"`{n}`" for n in read_only)
                + " (sent, even as null, each is `400 read_only`)."
            )
            jsonschema["description"] = " ".join(
                filter(None, [jsonschema.get("description"), note])
            )
        for prop in properties.values():
            if "default" in prop and prop["default"] is None and not _nullable(prop):
                del prop["default"]
        jsonschema.update(getattr(getattr(schema, "Meta", None), "openapi", {}))
        return jsonschema


def _nullable(prop: dict[str, Any]) -> bool:
    kind = prop.get("type")
    return kind is None or kind == "null" or (isinstance(kind, list) and "null" in kind)


class _Plugin(MarshmallowPlugin):
    Converter = _Converter


class Api(flask_smorest.Api):  # type: ignore[misc]  # untyped base (see Blueprint)
    def __init__(self) -> None:
        from authsvc.web.api.schemas import ErrorSchema

        self.ERROR_SCHEMA = ErrorSchema
        super().__init__()

    def handle_http_exception(self, error: HTTPException) -> Response:
        """smorest's documented override for the handler it registers for `HTTPException`:
        `errors.py` owns every error answer."""
        return errors.handle_http_exception(error)


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    """The bytes `jsonify` writes (compact, sorted keys, a newline), without its machinery:
    for hot routes whose `@bp.response` schema documents what the view renders itself."""
    return Response(_COMPACT.encode(body) + "\n", status=status, mimetype="application/json")


# Built once: `json.dumps` with options builds an encoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def client() -> Client:
    return Client(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


def _no_nul_in_path(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An id with NUL in it names nothing (and PostgreSQL refuses to compare with it)."""
    if values and any(isinstance(v, str) and "\x00" in v for v in values.values()):
        raise NotFound()


api = Api()


def init_app(app: Flask) -> None:
    from authsvc.web.api import (
        audit,
        auth,
        discovery,
        gateways,
        introspection,
        oauth,
        oauth_clients,
        private_tokens,
        status_lists,
        teams,
        two_factor,
        users,
    )

    app.json = StrictJSONProvider(app)
    app.config.update(
        API_TITLE="authsvc",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api.init_app(
        app,
        spec_kwargs={
            "info": {"description": "Token service: see README.md"},
            "marshmallow_plugin": _Plugin(),
        },
    )
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.components.security_scheme(
        "clientBasic",
        {"type": "http", "scheme": "basic", "description": "An OAuth client's id and secret."},
    )
    api.spec.components.security_scheme(
        "apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    )
    for module in (
        auth,
        users,
        discovery,
        two_factor,
        private_tokens,
        introspection,
        audit,
        gateways,
        oauth,
        oauth_clients,
        teams,
        status_lists,
    ):
        api.register_blueprint(module.bp)
    gateways.init_app(app)
    app.url_value_preprocessor(_no_nul_in_path)
