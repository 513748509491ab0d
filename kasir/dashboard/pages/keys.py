"""API keys: each mode's key by its prefix, and the rotation of the session's mode's key, after a
confirmation step, through the service ``kasir merchant rotate-key`` uses. The new key is shown
once, on the page that answers the rotation: keys are stored hashed (kasir.merchants.keys), so it
can never be shown again, and the old key stops working in the same transaction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection

from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute, allowed, form, render
from kasir.merchants.keys import MODES, Mode, key_prefix
from kasir.merchants.service import active_keys, rotate_key
from kasir.team import audit
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/keys"
NAV_ENTRY = (BASE, "keys", BUILDERS)

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "key_intro": (
            "Kunci API dipakai server Anda untuk membuat dan mengecek pembayaran. Kunci disimpan "
            "dalam bentuk hash: yang terlihat di sini hanya awalannya."
        ),
        "key_mode_test": "Mode uji",
        "key_mode_live": "Mode live",
        "key_this_session": "mode sesi ini",
        "key_prefix": "Awalan",
        "key_created": "Dibuat (WIB)",
        "key_none": "Tidak ada kunci aktif.",
        "key_rotate": "Buat kunci baru",
        "key_other_mode": "Pindah ke {mode} untuk membuat kunci baru mode itu.",
        "key_rotate_title": "Buat kunci API {mode} baru?",
        "key_rotate_lead": (
            "Kunci lama ({prefix}) langsung berhenti bekerja: setiap server atau plugin yang "
            "memakainya ditolak sampai diganti dengan kunci baru."
        ),
        "key_rotate_confirm": "Ya, buat kunci baru",
        "key_cancel": "Batal",
        "key_rotated_title": "Kunci API {mode} baru",
        "key_once": (
            "Kunci ini hanya ditampilkan sekali. Salin sekarang dan simpan di server Anda: setelah "
            "halaman ini ditutup, kunci tidak bisa dilihat lagi (buat kunci baru bila hilang)."
        ),
        "key_old_dead": "Kunci lama sudah tidak berlaku.",
        "key_back": "Kembali ke kunci API",
    },
    "en": {
        "key_intro": (
            "Your server uses the API key to create and check payments. Keys are stored hashed: all "
            "that shows here is their prefix."
        ),
        "key_mode_test": "Test mode",
        "key_mode_live": "Live mode",
        "key_this_session": "this session's mode",
        "key_prefix": "Prefix",
        "key_created": "Issued (WIB)",
        "key_none": "No working key.",
        "key_rotate": "Make a new key",
        "key_other_mode": "Switch to {mode} to make a new key of that mode.",
        "key_rotate_title": "Make a new {mode} API key?",
        "key_rotate_lead": (
            "The old key ({prefix}) stops working at once: every server or plugin using it is refused "
            "until it is given the new key."
        ),
        "key_rotate_confirm": "Yes, make a new key",
        "key_cancel": "Cancel",
        "key_rotated_title": "New {mode} API key",
        "key_once": (
            "This key is shown once. Copy it now into your server: once this page is closed it cannot "
            "be seen again (make a new one if it is lost)."
        ),
        "key_old_dead": "The old key no longer works.",
        "key_back": "Back to the API keys",
    },
}


def _mode(visitor: Visitor) -> Mode:
    return "live" if visitor.mode == "live" else "test"


@router.get(BASE)
async def keys_page(request: Request, visitor: Visitor = Depends(allowed(BUILDERS))) -> Response:
    found = await app_state(request).db.read(lambda conn: active_keys(conn, visitor.merchant_id))
    context = {"keys": [(mode, found.get(mode)) for mode in MODES], "mode": _mode(visitor)}
    return render(request, "dashboard/keys.html", context, visitor=visitor, words=WORDS)


@router.get(BASE + "/rotate")
async def rotate_page(request: Request, visitor: Visitor = Depends(allowed(BUILDERS))) -> Response:
    mode = _mode(visitor)
    found = await app_state(request).db.read(lambda conn: active_keys(conn, visitor.merchant_id))
    current = found.get(mode)
    context = {"mode": mode, "prefix": current["key_prefix"] if current else "—"}
    return render(request, "dashboard/keys_confirm.html", context, visitor=visitor, words=WORDS)


@router.post(BASE + "/rotate")
async def rotate(request: Request, visitor: Visitor = Depends(allowed(BUILDERS))) -> Response:
    await form(request, visitor)
    # The session's mode only: a test-mode session never touches the live key.
    mode = _mode(visitor)
    now = utcnow()

    def work(conn: Connection) -> tuple[str, str | None]:
        old = active_keys(conn, visitor.merchant_id).get(mode)
        key = rotate_key(conn, visitor.merchant_username, mode)
        old_prefix = old["key_prefix"] if old else None
        # The prefixes only: the key itself is in no log and no table, only in its hash.
        audit.record(conn, visitor, "rotate_api_key", mode, now, details={"old": old_prefix, "new": key_prefix(key)})
        return key, old_prefix

    key, old_prefix = await app_state(request).db.write(work)
    context: dict[str, Any] = {"mode": mode, "key": key, "old_prefix": old_prefix}
    return render(request, "dashboard/keys_reveal.html", context, visitor=visitor, words=WORDS)
