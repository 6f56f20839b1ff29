"""Email addresses as account names: one spelling per account, none that hides another.

Pure. `canonical` is how every email is compared and stored (login, lockout, creation):
NFKC (so fullwidth `ａｌｉｃｅ` is `alice`, and compatibility ligatures are letters),
trimmed, lower-cased. `check` refuses what would let two accounts look alike or one
address look like another:

- invisible format characters (Unicode category Cf: zero-width space and joiners, U+FEFF,
  the bidirectional marks, embeddings, overrides and isolates), controls (Cc), and any
  other whitespace, unassigned, private-use or surrogate code point inside the address;
- a local part or a domain that mixes Latin, Greek and Cyrillic letters (`pаypal.com`
  with a Cyrillic `а`). A part written wholly in one script is allowed (`иван@пример.рф`):
  refusing every non-Latin address would shut out people, and an address wholly in
  another script cannot pass for a Latin one letter by letter in a mixed word.
"""

from __future__ import annotations

import unicodedata

CONFUSABLE_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")
_REFUSED_CATEGORIES = frozenset({"Cf", "Cc", "Cn", "Co", "Cs", "Zl", "Zp", "Zs"})


class InvalidEmail(ValueError):
    """An email that could be confused with another one; the API answers `invalid`."""


def canonical(email: str) -> str:
    """The form an email is compared and stored in (no checks: see `check`)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).strip().lower())


def _script(char: str) -> str | None:
    """The confusable script a letter belongs to, by its Unicode name; None for others."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    for script in CONFUSABLE_SCRIPTS:
        if name.startswith(script):
            return script
    return None


def check(email: str) -> str:
    """`canonical(email)`, or `InvalidEmail` for the characters and mixtures above."""
    text = canonical(email)
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text):
        raise InvalidEmail("invisible, control or space characters")
    local, _, domain = text.rpartition("@")
    for part in (local, domain):
        scripts = {s for s in map(_script, part) if s is not None}
        if len(scripts) > 1:
            raise InvalidEmail("mixes " + " and ".join(sorted(scripts)).lower() + " letters")
    return text
