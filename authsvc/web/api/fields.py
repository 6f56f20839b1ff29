"""Marshmallow fields whose error messages are the contract's codes, and their translation.

Each field fails with a code (`required`, `null`, `blank`, `too_long`, `invalid`,
`read_only`); `to_items` turns marshmallow's nested messages into one envelope entry
per field, with a dotted `attr`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import marshmallow as ma
from marshmallow import ValidationError
from marshmallow.types import ErrorMessages

from authsvc.core import emails, passwords
from authsvc.core.errors import ErrorItem

DETAILS = {
    "required": "This field is required.",
    "null": "This field may not be null.",
    "blank": "This field may not be blank.",
    "too_long": "This value is too long.",
    "invalid": "This value is not valid.",
    "read_only": "This field cannot be changed.",
}
_CODED: ErrorMessages = {
    "required": "required",
    "null": "null",
    "invalid": "invalid",
    "validator_failed": "invalid",
}
# marshmallow reads `default_error_messages` from the class (merged along the MRO), so each
# field's set is a module constant rather than a literal on the class.
_INT_CODED: ErrorMessages = {**_CODED, "too_large": "invalid"}
_DATETIME_CODED: ErrorMessages = {**_CODED, "format": "invalid", "awareness": "invalid"}
_READ_ONLY_CODED: ErrorMessages = {"null": "read_only"}

_T = TypeVar("_T")


# What `str.strip()` removes (every character for which `str.isspace()` holds), spelled out
# so that the documented pattern means the same in every regex dialect a client may use.
_SPACE = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL = "^[^\x00]*$"
NOT_BLANK = f"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"


_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def _reject_unsafe(value: str) -> None:
    if _UNSAFE.search(value):
        raise ValidationError("invalid")


class Str(ma.fields.String):
    """A string that is never blank (unless allowed), bounded, and free of NUL and lone surrogates."""

    default_error_messages = _CODED

    def __init__(self, *, max_length: int = 1024, allow_blank: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.allow_blank = allow_blank
        # Documented, so that the OpenAPI document states what the field accepts.
        self.metadata = {
            "maxLength": max_length,
            "pattern": NO_NUL if allow_blank else NOT_BLANK,
            **self.metadata,
        }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        _reject_unsafe(text)
        if not self.allow_blank and not text.strip():
            raise ValidationError("blank")
        if len(text) > self.max_length:
            raise ValidationError("too_long")
        return text


class Email(Str):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=320, **kwargs)
        self.metadata = {"format": "email", **self.metadata}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text = emails.check(text)  # NFKC, no invisible characters, no mixed scripts
            ma.validate.Email(error="invalid")(text)
        except (ValidationError, emails.InvalidEmail):
            raise ValidationError("invalid") from None
        return text


class NewPassword(Str):
    """A password being set: documented with the policy's minimum length (the rest of the
    policy, common and guessable passwords, no schema can state: `400 weak_password`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=passwords.MAX_LENGTH, **kwargs)
        self.metadata = {"minLength": passwords.MIN_LENGTH, **self.metadata}


class Int(ma.fields.Integer):
    """A JSON integer. `30.0` counts as `30`: JSON (and JSON Schema's `integer`) does not
    tell them apart, and clients' JSON encoders do not always either. `"30"` does not."""

    default_error_messages = _INT_CODED

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Bool(ma.fields.Boolean):
    """A JSON `true` or `false`, nothing else: marshmallow's truthy strings ("yes", "on",
    "1", "t") and the numbers 0 and 1 are `invalid`."""

    default_error_messages = _CODED

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class DateTime(ma.fields.AwareDateTime):
    """An RFC 3339 time with an offset, returned in UTC (so one at the ends of the calendar,
    such as 0001-01-01T00:00:00+14:00, that has no UTC equivalent is `invalid`)."""

    default_error_messages = _DATETIME_CODED

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("invalid") from None


class List(ma.fields.List[_T]):
    default_error_messages = _CODED


class ReadOnly(ma.fields.Raw):
    """A field a client may see but never send."""

    default_error_messages = _READ_ONLY_CODED

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metadata = {"readOnly": True, **self.metadata}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        raise ValidationError("read_only")


def to_items(messages: Mapping[str, Any] | list[Any] | str, prefix: str = "") -> list[ErrorItem]:
    """Flatten marshmallow's messages into envelope entries (`attr` dotted for nested fields)."""
    if isinstance(messages, str):
        code = messages if messages in DETAILS else "invalid"
        attr = prefix or None
        return [ErrorItem(code, DETAILS[code] if code == messages else messages, attr)]
    if isinstance(messages, list):
        items: list[ErrorItem] = []
        for message in messages:
            items.extend(to_items(message, prefix))
        return items[:1] if items and all(isinstance(m, str) for m in messages) else items
    items = []
    for key, value in messages.items():
        name = str(key)
        attr = prefix if name == "_schema" else (f"{prefix}.{name}" if prefix else name)
        items.extend(to_items(value, attr))
    return items


class Timestamp(ma.fields.DateTime):
    """Output as RFC 3339 in UTC with a `Z`, as the contract writes times."""

    def _serialize(
        self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any
    ) -> str | None:
        if value is None:
            return None
        return rfc3339(value)


def rfc3339(value: datetime) -> str:
    """A time as the contract writes it: RFC 3339, UTC, whole seconds, `Z`."""
    # isoformat is C; strftime goes through the time module (twice on every verify).
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
_SCOPES_MAX_CHARS = 1024
_SCOPE_MAX_LENGTH, _SCOPES_MAX_COUNT = 100, 10  # 10 * 100 + 9 spaces <= 1024


class Scope(Str):
    """One RFC 6749 scope-token: printable ASCII, no space, quote or backslash."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=_SCOPE_MAX_LENGTH, **kwargs)
        self.metadata = {**self.metadata, "pattern": f"^{_SCOPE_TOKEN.pattern}$"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _SCOPE_TOKEN.fullmatch(text):
            raise ValidationError("invalid")
        return text


class Scopes(List[str]):
    """A list of scopes, duplicates dropped (first kept), that fits the `users.scopes` column.

    The column's limit is documented as at most 10 scopes of at most 100 characters
    each, which always fits, so that the OpenAPI document says which lists are accepted.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Scope(), **kwargs)
        self.metadata = {**self.metadata, "maxItems": _SCOPES_MAX_COUNT}

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> list[str | None]:
        """Typed as marshmallow types a list's items (optional, for an inner field that
        allows null); a Scope does not, so every item is a string."""
        if isinstance(value, list) and len(value) > _SCOPES_MAX_COUNT:  # counted as sent
            raise ValidationError("too_long")
        scopes = list(dict.fromkeys(super()._deserialize(value, attr, data, **kwargs)))
        if len(" ".join(s for s in scopes if s is not None)) > _SCOPES_MAX_CHARS:
            raise ValidationError("too_long")
        return scopes
