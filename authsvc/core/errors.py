"""The error vocabulary, and `envelope`: the one rendering of an error, for server and verifier.

Use cases raise the `ApiError` subclass that names the failure (or a `tokens.InvalidToken`);
`envelope` turns either into status, JSON body and headers (the RFC 6750 challenge from
`core.envelope` included). The server's Flask handlers (`authsvc.web.errors`) and the
verifier's (`authsvc.verifier.flask`) both answer with it, so a client meets one shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from authsvc.core import envelope as _envelope
from authsvc.core import tokens


@dataclass(frozen=True)
class ErrorItem:
    code: str
    detail: str
    attr: str | None = None
    extra: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "detail": self.detail,
            "attr": self.attr,
            "extra": dict(self.extra) if self.extra is not None else None,
        }


class ApiError(Exception):
    """One error answer: `status`, `code`, `detail`, `attr`, `extra` (+ optional headers)."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid"
    default_detail: ClassVar[str] = "The request is invalid."
    type: ClassVar[str] = "client_error"
    # RFC 6750 `error=` of the challenge when it is not implied by the code (e.g. invalid_request).
    bearer_error: ClassVar[str | None] = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        attr: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.attr = attr
        self.extra = extra
        self.headers = dict(headers or {})
        super().__init__(self.detail)

    def items(self) -> list[ErrorItem]:
        return [ErrorItem(self.code, self.detail, self.attr, self.extra)]


class ValidationFailed(ApiError):
    """400 with one entry per bad field."""

    status = 400
    code = "invalid"
    type = "validation_error"

    def __init__(self, items: Sequence[ErrorItem]) -> None:
        super().__init__(items[0].detail if items else None)
        self._items = list(items)

    def items(self) -> list[ErrorItem]:
        return self._items

    @classmethod
    def one(
        cls, attr: str, code: str, detail: str, extra: Mapping[str, Any] | None = None
    ) -> ValidationFailed:
        return cls([ErrorItem(code, detail, attr, extra)])


class ParseError(ApiError):
    status, code, default_detail = 400, "parse_error", "The body is not valid JSON."


class BadRequest(ApiError):
    status, code, default_detail = 400, "invalid", "The request is invalid."


class InvalidRequest(BadRequest):
    """A badly sent token (in the URL, or two that disagree): 400 with `error="invalid_request"`."""

    bearer_error = "invalid_request"


class NotAuthenticated(ApiError):
    status, code = 401, "not_authenticated"
    default_detail = "Authentication credentials were not provided."


class InvalidCredentials(ApiError):
    status, code, default_detail = 401, "invalid_credentials", "Incorrect email or password."


class MfaRequired(ApiError):
    status, code = 401, "mfa_required"
    default_detail = "A two-factor code is required."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, attr="totp_code")


class InvalidTotp(ApiError):
    status, code = 401, "invalid_totp"
    default_detail = "The two-factor code is wrong, expired or already used."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, attr="totp_code")


class PermissionDenied(ApiError):
    status, code = 403, "permission_denied"
    default_detail = "You do not have permission to perform this action."


class InsufficientScope(ApiError):
    status, code = 403, "insufficient_scope"
    default_detail = "The requested scopes are not yours to grant."


class NotFound(ApiError):
    status, code, default_detail = 404, "not_found", "Not found."


class MethodNotAllowed(ApiError):
    status, code, default_detail = 405, "method_not_allowed", "Method not allowed."


class Conflict(ApiError):
    status, code, default_detail = 409, "conflict", "The request conflicts with the current state."


class TooLarge(ApiError):
    status, code, default_detail = 413, "too_large", "The request body is too large."


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"
    default_detail = "Send the body as application/json."


class RateLimited(ApiError):
    status, code, default_detail = 429, "rate_limited", "Too many requests; try again later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(
            detail, extra={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)}
        )


class ServerError(ApiError):
    status, code, type = 500, "server_error", "server_error"
    default_detail = "A server error occurred."


class ServiceUnavailable(ApiError):
    status, code, type = 503, "service_unavailable", "server_error"
    default_detail = "The service is temporarily unavailable."


class InvalidTokenError(ApiError):
    status, code = 401, "invalid_token"

    def __init__(self, error: tokens.InvalidToken) -> None:
        super().__init__(error.detail, extra={"reason": error.reason})


BY_STATUS: dict[int, type[ApiError]] = {
    400: ParseError,
    401: NotAuthenticated,
    403: PermissionDenied,
    404: NotFound,
    405: MethodNotAllowed,
    413: TooLarge,
    415: UnsupportedMediaType,
    500: ServerError,
    503: ServiceUnavailable,
}


Envelope = tuple[int, dict[str, Any], dict[str, str]]


def as_api_error(error: ApiError | tokens.InvalidToken) -> ApiError:
    return InvalidTokenError(error) if isinstance(error, tokens.InvalidToken) else error


def envelope(error: ApiError | tokens.InvalidToken, *, realm: str = _envelope.REALM) -> Envelope:
    """The status, JSON body and headers (RFC 6750 challenge included) of one error answer."""
    error = as_api_error(error)
    body, challenge = _envelope.render(
        error.status,
        [item.as_dict() for item in error.items()],
        type=error.type,
        realm=realm,
        bearer_error=error.bearer_error,
    )
    return error.status, body, {**error.headers, **challenge}
