"""What each scope grants, in one line a person reads: the built-in words of
`core.oauth.SCOPE_WORDS` under `AUTHSVC_SCOPE_DESCRIPTIONS`, so the console's key dialog
and the OAuth consent page say the same thing."""

from __future__ import annotations

from collections.abc import Iterable

from authsvc.core import oauth
from authsvc.services.runtime import settings


def describe(scope: str) -> str:
    return dict(settings().scope_descriptions).get(scope) or oauth.scope_words(scope)


def descriptions(extra: Iterable[str] = ()) -> dict[str, str]:
    """Every scope with words (built-in or configured), plus `extra`, each described."""
    names = dict.fromkeys(
        [*oauth.SCOPE_WORDS, *(k for k, _ in settings().scope_descriptions), *extra]
    )
    return {name: describe(name) for name in names}


def base_scopes(held: Iterable[str]) -> list[str]:
    """`AUTHSVC_PRIVATE_TOKEN_BASE_SCOPES` that `held` has: a key never carries more than
    its holder, so a base scope the holder lacks is not added."""
    mine = set(held)
    return [s for s in settings().private_token_base_scopes if s in mine]
