"""crypto: sealed values open only with the same secret, purpose and row; the secret file."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from authsvc.core import crypto

SECRET = b"instance-secret-0123456789-abcdefghijklmnop"
PLAIN = b"-----BEGIN PRIVATE KEY----- not really"
BLOB = crypto.seal(SECRET, "signing-key", PLAIN, b"kid-1")


def _flip(blob: bytes, index: int) -> bytes:
    out = bytearray(blob)
    out[index] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("plaintext", [b"", b"x", PLAIN, bytes(range(256)) * 64])
@pytest.mark.parametrize("aad", [b"", b"kid-1"])
def test_seal_then_open_round_trip(plaintext: bytes, aad: bytes) -> None:
    blob = crypto.seal(SECRET, "totp-secret", plaintext, aad)
    assert crypto.open_sealed(SECRET, "totp-secret", blob, aad) == plaintext
    # the plaintext is not in the blob; a 1-byte one would turn up in random bytes by chance
    assert len(plaintext) < 8 or plaintext not in blob


def test_each_seal_is_fresh() -> None:
    """A random nonce per seal: equal plaintexts give unrelated ciphertexts."""
    blobs = {crypto.seal(SECRET, "p", PLAIN) for _ in range(50)}
    assert len(blobs) == 50 and len({b[1:13] for b in blobs}) == 50


def test_the_blob_layout() -> None:
    assert BLOB[:1] == b"\x01" and len(BLOB) == 1 + 12 + len(PLAIN) + 16


OPEN_REFUSALS = [
    pytest.param(SECRET[:-1] + b"?", "signing-key", BLOB, b"kid-1", id="wrong-secret"),
    pytest.param(b"", "signing-key", BLOB, b"kid-1", id="empty-secret"),
    pytest.param(SECRET, "totp-secret", BLOB, b"kid-1", id="wrong-purpose"),
    pytest.param(SECRET, "signing-key ", BLOB, b"kid-1", id="purpose-trailing-space"),
    pytest.param(SECRET, "signing-key", BLOB, b"kid-2", id="wrong-aad"),
    pytest.param(SECRET, "signing-key", BLOB, b"", id="aad-missing"),
    pytest.param(SECRET, "signing-key", BLOB[:-1], b"kid-1", id="truncated-by-one"),
    pytest.param(SECRET, "signing-key", BLOB[:29], b"kid-1", id="truncated-to-header-and-tag"),
    pytest.param(SECRET, "signing-key", BLOB[:28], b"kid-1", id="shorter-than-any-seal"),
    pytest.param(SECRET, "signing-key", BLOB[:1], b"kid-1", id="version-only"),
    pytest.param(SECRET, "signing-key", b"", b"kid-1", id="empty"),
    pytest.param(SECRET, "signing-key", BLOB + b"\x00", b"kid-1", id="extended"),
    pytest.param(SECRET, "signing-key", _flip(BLOB, 0), b"kid-1", id="version-flipped"),
    pytest.param(SECRET, "signing-key", b"\x02" + BLOB[1:], b"kid-1", id="unknown-version"),
    pytest.param(SECRET, "signing-key", _flip(BLOB, 5), b"kid-1", id="nonce-bit-flipped"),
    pytest.param(SECRET, "signing-key", _flip(BLOB, 20), b"kid-1", id="ciphertext-bit-flipped"),
    pytest.param(SECRET, "signing-key", _flip(BLOB, len(BLOB) - 1), b"kid-1", id="tag-bit-flipped"),
    pytest.param(SECRET, "signing-key", PLAIN, b"kid-1", id="plaintext-stored-by-mistake"),
]


@pytest.mark.parametrize(("secret", "purpose", "blob", "aad"), OPEN_REFUSALS)
def test_open_refuses(secret: bytes, purpose: str, blob: bytes, aad: bytes) -> None:
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(secret, purpose, blob, aad)


def test_every_single_bit_flip_is_caught() -> None:
    blob = crypto.seal(SECRET, "p", b"sixteen byte msg", b"row")
    for index in range(len(blob)):
        for bit in range(8):
            tampered = bytearray(blob)
            tampered[index] ^= 1 << bit
            with pytest.raises(crypto.DecryptionError):
                crypto.open_sealed(SECRET, "p", bytes(tampered), b"row")


def test_derived_keys_differ_by_purpose_and_secret() -> None:
    keys = {
        crypto.derive_key(s, p)
        for s in (SECRET, SECRET + b"!")
        for p in ("a", "b", "flask-session")
    }
    assert len(keys) == 6 and all(len(k) == 32 for k in keys)
    assert crypto.derive_key(SECRET, "a") == crypto.derive_key(SECRET, "a")
    assert SECRET not in crypto.derive_key(SECRET, "a")


# -- the instance secret file ------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_a_0600_secret(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    old = os.umask(0)  # even a permissive umask gives 0600
    try:
        value = crypto.load_or_create_secret(path)
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert len(value) >= 43 and path.read_bytes().strip() == value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]  # nothing left aside


def test_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    first = crypto.load_or_create_secret(path)
    assert crypto.load_or_create_secret(path) == first
    path.write_bytes(b"set-by-the-operator-0123456789-abcdef\n")
    path.chmod(0o600)
    assert crypto.load_or_create_secret(path) == b"set-by-the-operator-0123456789-abcdef"
    assert path.read_bytes() == b"set-by-the-operator-0123456789-abcdef\n"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o666, 0o660])
def test_tightens_a_loose_file(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secret_key"
    path.write_bytes(b"an-existing-secret-0123456789-abcdefghij\n")
    path.chmod(mode)
    assert crypto.load_or_create_secret(path) == b"an-existing-secret-0123456789-abcdefghij"
    assert _mode(path) == 0o600


def test_two_secrets_differ(tmp_path: Path) -> None:
    assert crypto.load_or_create_secret(tmp_path / "a") != crypto.load_or_create_secret(
        tmp_path / "b"
    )


def _first_starts(path: Path, count: int) -> list[bytes]:
    """The secrets `count` threads read, all released at once into `load_or_create_secret`."""
    barrier = threading.Barrier(count)
    seen: list[bytes] = []

    def start() -> None:
        barrier.wait()
        seen.append(crypto.load_or_create_secret(path))

    threads = [threading.Thread(target=start) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


def test_concurrent_first_starts_agree_on_one_whole_secret(tmp_path: Path) -> None:
    """Many processes starting at once: all read the same non-empty secret, none an empty file."""
    for round_ in range(20):
        seen = _first_starts(tmp_path / f"secret_{round_}", 8)
        assert len(seen) == 8 and len(set(seen)) == 1 and len(seen[0]) >= 43, seen
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"secret_{i}" for i in range(20))
