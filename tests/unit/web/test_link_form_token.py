"""The public link page's form token (kasir.web.link_form_token): good for the browser and the link
it was issued for, once per render, and nothing else."""

from __future__ import annotations

from kasir.links import slugs
from kasir.web import link_form_token as form_token


def test_a_token_names_its_nonce_for_its_browser_and_link() -> None:
    key, slug = form_token.new_browser_key(), slugs.new_slug()
    token = form_token.issue(key, slug)
    nonce = form_token.nonce_of(key, slug, token)
    assert nonce is not None
    assert token.startswith(nonce + ".")
    # Each render has its own nonce: two forms are two payments, one form sent twice is one.
    assert form_token.nonce_of(key, slug, form_token.issue(key, slug)) != nonce


def test_another_browser_another_link_or_a_forged_token_is_refused() -> None:
    key, slug = form_token.new_browser_key(), slugs.new_slug()
    token = form_token.issue(key, slug)
    nonce, mac = token.split(".")
    assert form_token.nonce_of(form_token.new_browser_key(), slug, token) is None
    assert form_token.nonce_of(key, slugs.new_slug(), token) is None
    assert form_token.nonce_of(key, slug, f"{nonce}x.{mac}") is None
    # Its last character changed for another (always another: "0" when it ended in "0" would
    # be the real token, once in 16 runs).
    assert form_token.nonce_of(key, slug, f"{nonce}.{mac[:-1]}{'1' if mac.endswith('0') else '0'}") is None
    for bad in (None, "", ".", token + ".", "x" * 200, 12345, ["a.b"]):
        assert form_token.nonce_of(key, slug, bad) is None
    assert form_token.nonce_of(None, slug, token) is None
    assert form_token.nonce_of("", slug, token) is None


def test_slugs_and_ids_have_their_shapes() -> None:
    slug = slugs.new_slug()
    assert len(slug) == slugs.SLUG_LENGTH
    assert slug.isalnum()
    assert slug.isascii()
    assert slugs.plausible_slug(slug)
    assert len({slugs.new_slug() for _ in range(1000)}) == 1000
    for bad in ("", slug[:-1], slug + "a", slug[:-1] + "_", slug[:-1] + "\x00", "../../etc/passwd"):
        assert not slugs.plausible_slug(bad)
    link_id = slugs.new_link_id()
    assert slugs.plausible_link_id(link_id)
    assert link_id.startswith("lnk_")
    assert not slugs.plausible_link_id(link_id + "0")
    assert not slugs.plausible_link_id("lnk_x")
    assert slugs.link_url("https://pay.toko.id", slug) == f"https://pay.toko.id/l/{slug}"
