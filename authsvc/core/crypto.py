"""Authenticated encryption of secrets at rest under the instance secret.

Each purpose gets its own AES-256-GCM key derived with HKDF, so a ciphertext made for
one use (a signing key) can never be opened as another (a TOTP secret). The associated
data binds a ciphertext to its row, so rows cannot be swapped in the database.
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12
_VERSION = b"\x01"


class DecryptionError(Exception):
    """The instance secret does not open this ciphertext (wrong secret or tampered row)."""


def derive_key(secret: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"authsvc", info=purpose.encode()
    ).derive(secret)


def seal(secret: bytes, purpose: str, plaintext: bytes, aad: bytes = b"") -> bytes:
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(derive_key(secret, purpose)).encrypt(nonce, plaintext, aad)
    return _VERSION + nonce + sealed


def open_sealed(secret: bytes, purpose: str, blob: bytes, aad: bytes = b"") -> bytes:
    if len(blob) < 1 + _NONCE + 16 or blob[:1] != _VERSION:
        raise DecryptionError("not a sealed value")
    try:
        return AESGCM(derive_key(secret, purpose)).decrypt(
            blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad
        )
    except InvalidTag as exc:
        raise DecryptionError("wrong instance secret or tampered value") from exc


def load_or_create_secret(path: Path) -> bytes:
    """Read the instance secret, creating it (mode 0600, never overwritten) on first start.

    The file appears whole or not at all: a second process starting at the same moment,
    or a crash halfway through writing, must never leave an empty secret to encrypt with.
    """
    if not path.exists():
        _create_secret(path)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return path.read_bytes().strip()


def _create_secret(path: Path) -> None:
    """Write aside, fsync, then hard-link into place; the first process to link wins."""
    value = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=")
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(value + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(aside, path)
        except FileExistsError:
            return
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        os.unlink(aside)
