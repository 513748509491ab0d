"""Dashboard passwords: Argon2id (argon2-cffi's defaults, RFC 9106's second recommended profile),
never stored, logged or shown in clear."""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 256  # Argon2 takes any length; a bound keeps a 10 MB "password" from costing anything
_HASHER = PasswordHasher()
# Verified against when no user has the email, so that a wrong email costs the same time as a
# wrong password and does not tell a prober which emails exist.
_NOBODY = _HASHER.hash(secrets.token_urlsafe(16))
_ALPHABET = string.ascii_letters + string.digits


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from (None: nobody's, always False)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored_hash or _NOBODY, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """The hash was made with weaker parameters than today's: rehash it at the next sign-in."""
    return _HASHER.check_needs_rehash(stored_hash)


def problem(password: str) -> str | None:
    """Why ``password`` cannot be one, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password has at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if not password.isprintable():
        return "a password holds no control characters"
    return None


def one_time_password() -> str:
    """What `kasir user create` prints: 16 letters and digits, changed at the first sign-in."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))
