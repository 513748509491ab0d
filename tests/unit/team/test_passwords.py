"""Dashboard passwords: Argon2id, checked in the same time for an unknown account, never accepted
from a hash of another password, nor too short, too long or with control characters."""

from __future__ import annotations

from kasir.team import passwords


def test_a_password_verifies_against_its_own_hash_only() -> None:
    stored = passwords.hash_password("kata-sandi-1")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "kata-sandi-1")
    assert not passwords.verify(stored, "kata-sandi-2")
    assert not passwords.verify(None, "kata-sandi-1")  # nobody's: always no
    assert not passwords.verify("not a hash", "kata-sandi-1")
    assert not passwords.verify(stored, "x" * (passwords.MAX_LENGTH + 1))


def test_two_hashes_of_one_password_differ() -> None:
    assert passwords.hash_password("same-password") != passwords.hash_password("same-password")


def test_what_cannot_be_a_password() -> None:
    assert passwords.problem("short") is not None
    assert passwords.problem("x" * (passwords.MAX_LENGTH + 1)) is not None
    assert passwords.problem("long enough\x00but") is not None
    assert passwords.problem("a good long password") is None


def test_one_time_passwords_are_long_and_different() -> None:
    made = {passwords.one_time_password() for _ in range(50)}
    assert len(made) == 50
    assert all(len(p) == 16 and p.isalnum() and passwords.problem(p) is None for p in made)
