"""The team (owners only): who signs in to this merchant's dashboard with which role, inviting
someone by a one-time set-password link, changing a role, removing a user, and what was done to
the team (the audit log); and the invitation's own page, where the invited person chooses a
password, which needs no session (docs/dashboard.md, "The team").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection

from kasir.api.body import read_params
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard.texts import TEXTS
from kasir.dashboard.web import (
    OWNER,
    PREFIX,
    DashboardRoute,
    allowed,
    form,
    language,
    redirect,
    render,
    session_token,
    set_session_cookie,
)
from kasir.errors import Conflict, InvalidRequest, KasirError, NotFound
from kasir.team import audit, invitations, sessions, users
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/team"
NAV_ENTRY = (BASE, "team", OWNER)
INVITE = f"{PREFIX}/invite"

owners_only = allowed(OWNER)

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "team_title": "Tim",
        "team_lead": "Siapa saja yang bisa masuk ke dasbor toko ini, dan apa yang boleh mereka lakukan.",
        "team_roles_help": (
            "Pemilik: semuanya. Pengembang: webhook, endpoint, kunci API, log, sumber pembayaran, link, "
            "barang, statistik, peringatan; tanpa tim dan kanal. Kasir: pembayaran yang sudah dibayar dan "
            "pesanan, hanya melihat dan menandai pesanan diproses atau selesai."
        ),
        "team_members": "Anggota",
        "team_col_email": "Email",
        "team_col_role": "Peran",
        "team_col_last_sign_in": "Terakhir masuk (WIB)",
        "team_col_actions": "Tindakan",
        "team_never": "belum pernah",
        "team_you": "Anda",
        "team_role_owner": "Pemilik",
        "team_role_developer": "Pengembang",
        "team_role_cashier": "Kasir",
        "team_change_role": "Ganti peran",
        "team_remove": "Hapus…",
        "team_invite_heading": "Undang anggota",
        "team_invite_lead": (
            "Kasir membuat tautan sekali pakai untuk memilih kata sandi. Tautan hanya tampil sekali: "
            "kirimkan sendiri ke orangnya (WhatsApp, email)."
        ),
        "team_invite": "Buat tautan undangan",
        "team_pending": "Undangan menunggu",
        "team_no_pending": "Tidak ada undangan yang menunggu.",
        "team_invited_by": "diundang oleh {email}, berlaku sampai {when} WIB",
        "team_revoke": "Batalkan undangan",
        "team_history": "Riwayat tim",
        "team_no_history": "Belum ada perubahan tim.",
        "team_action_team.invite": "mengundang",
        "team_action_team.invite_revoke": "membatalkan undangan",
        "team_action_team.join": "bergabung",
        "team_action_team.role": "mengganti peran",
        "team_action_team.remove": "menghapus",
        "team_done_revoked": "Undangan dibatalkan: tautannya tidak berlaku lagi.",
        "team_done_role": "Peran diganti. Berlaku mulai halaman berikutnya yang dibuka orang itu.",
        "team_done_removed": "Pengguna dihapus dan semua sesinya diakhiri.",
        "team_link_title": "Tautan undangan untuk {email}",
        "team_link_once": (
            "Salin tautan ini sekarang: Kasir tidak menyimpannya dan tidak bisa menampilkannya lagi. "
            "Siapa pun yang memegangnya bisa bergabung sebagai {role}."
        ),
        "team_link_expires": "Berlaku sampai {when} WIB, sekali pakai.",
        "team_link_whatsapp": "Kirim lewat WhatsApp",
        "team_link_message": "Undangan ke dasbor {merchant} di Kasir: {link}",
        "team_back": "Kembali ke tim",
        "team_remove_title": "Hapus {email}?",
        "team_remove_lead": (
            "Orang ini tidak bisa masuk lagi dan sesi yang sedang terbuka langsung berakhir. Catatan "
            "tindakannya di log audit tetap ada."
        ),
        "team_remove_confirm": "Ya, hapus",
        "team_cancel": "Batal",
        "team_err_email_taken": "Email itu sudah dipakai untuk masuk ke dasbor.",
        "team_err_invalid_email": "Tulis alamat email yang benar.",
        "team_err_invalid_role": "Pilih peran: pemilik, pengembang atau kasir.",
        "team_err_own_account": "Anda tidak bisa mengganti peran atau menghapus akun Anda sendiri.",
        "team_err_last_owner": "Toko ini perlu setidaknya satu pemilik.",
        "invite_title": "Bergabung ke dasbor {merchant}",
        "invite_lead": "Anda diundang sebagai {role} dengan email {email}. Pilih kata sandi untuk masuk.",
        "invite_password": "Kata sandi baru (minimal 10 karakter)",
        "invite_password_again": "Ulangi kata sandi",
        "invite_join": "Simpan dan masuk",
        "invite_invalid": (
            "Tautan undangan ini tidak berlaku: mungkin sudah dipakai, dibatalkan, diganti atau kedaluwarsa. "
            "Minta tautan baru kepada pemilik toko."
        ),
        "invite_mismatch": "Kedua kata sandi tidak sama.",
        "invite_weak": "Kata sandi minimal 10 karakter dan tanpa karakter kontrol.",
    },
    "en": {
        "team_title": "Team",
        "team_lead": "Who can sign in to this shop's dashboard, and what they may do.",
        "team_roles_help": (
            "Owner: everything. Developer: webhooks, endpoints, API keys, logs, payment sources, links, "
            "goods, statistics, alerts; not the team or the channels. Cashier: the paid payments and the "
            "orders, to look at and to mark orders processed or completed."
        ),
        "team_members": "Members",
        "team_col_email": "Email",
        "team_col_role": "Role",
        "team_col_last_sign_in": "Last sign-in (WIB)",
        "team_col_actions": "Actions",
        "team_never": "never",
        "team_you": "you",
        "team_role_owner": "Owner",
        "team_role_developer": "Developer",
        "team_role_cashier": "Cashier",
        "team_change_role": "Change role",
        "team_remove": "Remove…",
        "team_invite_heading": "Invite someone",
        "team_invite_lead": (
            "Kasir makes a one-time link to choose a password. The link is shown once: send it to the "
            "person yourself (WhatsApp, email)."
        ),
        "team_invite": "Make an invitation link",
        "team_pending": "Pending invitations",
        "team_no_pending": "No invitation is waiting.",
        "team_invited_by": "invited by {email}, valid until {when} WIB",
        "team_revoke": "Revoke the invitation",
        "team_history": "Team history",
        "team_no_history": "No change to the team yet.",
        "team_action_team.invite": "invited",
        "team_action_team.invite_revoke": "revoked the invitation of",
        "team_action_team.join": "joined",
        "team_action_team.role": "changed the role of",
        "team_action_team.remove": "removed",
        "team_done_revoked": "Invitation revoked: its link no longer works.",
        "team_done_role": "Role changed. It applies from the next page that person opens.",
        "team_done_removed": "User removed, and every session of theirs ended.",
        "team_link_title": "Invitation link for {email}",
        "team_link_once": (
            "Copy this link now: Kasir does not keep it and cannot show it again. Whoever holds it can join as {role}."
        ),
        "team_link_expires": "Valid until {when} WIB, once.",
        "team_link_whatsapp": "Send by WhatsApp",
        "team_link_message": "An invitation to {merchant}'s dashboard on Kasir: {link}",
        "team_back": "Back to the team",
        "team_remove_title": "Remove {email}?",
        "team_remove_lead": (
            "This person can no longer sign in, and their open sessions end at once. The audit log keeps "
            "the lines of what they did."
        ),
        "team_remove_confirm": "Yes, remove",
        "team_cancel": "Cancel",
        "team_err_email_taken": "That email already signs in to a dashboard.",
        "team_err_invalid_email": "Write a valid email address.",
        "team_err_invalid_role": "Choose a role: owner, developer or cashier.",
        "team_err_own_account": "You cannot change your own role or remove your own account.",
        "team_err_last_owner": "The shop needs at least one owner.",
        "invite_title": "Join {merchant}'s dashboard",
        "invite_lead": "You are invited as {role} with the email {email}. Choose a password to sign in.",
        "invite_password": "New password (at least 10 characters)",
        "invite_password_again": "The password again",
        "invite_join": "Save and sign in",
        "invite_invalid": (
            "This invitation link does not work: it may have been used, revoked, replaced or have expired. "
            "Ask the shop's owner for a new one."
        ),
        "invite_mismatch": "The two passwords differ.",
        "invite_weak": "A password has at least 10 characters and no control characters.",
    },
}

_DONE = ("revoked", "role", "removed")


def _words(request: Request) -> dict[str, str]:
    return {**TEXTS[language(request)], **WORDS[language(request)]}


def _message(request: Request, exc: KasirError) -> str:
    """The service's refusal in the visitor's language, when the page has words for it."""
    return _words(request).get(f"team_err_{exc.code}", exc.message)


def _number(value: str) -> int:
    """A user's or invitation's id from the URL; anything else is no page."""
    if not value.isdigit() or len(value) > 18:
        raise NotFound("no such team member or invitation", code="page_not_found")
    return int(value)


async def _team_page(
    request: Request,
    visitor: Visitor,
    *,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    state = app_state(request)
    now = utcnow()

    def read(conn: Connection) -> dict[str, Any]:
        return {
            "members": users.team(conn, visitor.merchant_id),
            "pending": invitations.pending(conn, visitor.merchant_id, now),
            "history": users.team_actions(conn, visitor.merchant_id),
        }

    context = {
        **await state.db.read(read),
        "roles": users.ROLES,
        "values": values or {"email": "", "role": "cashier"},
        "error": error,
        "done": request.query_params.get("done") if request.query_params.get("done") in _DONE else None,
    }
    return render(request, "dashboard/team.html", context, status_code=status, visitor=visitor, words=WORDS)


@router.get(BASE)
async def team_page(request: Request, visitor: Visitor = Depends(owners_only)) -> Response:
    return await _team_page(request, visitor)


@router.post(f"{BASE}/invitations")
async def invite(request: Request, visitor: Visitor = Depends(owners_only)) -> Response:
    params = await form(request, visitor)
    email = params.get("email") if isinstance(params.get("email"), str) else ""
    role = params.get("role") if isinstance(params.get("role"), str) else ""
    state = app_state(request)
    now = utcnow()
    lifetime = state.settings.dashboard_invitation_lifetime
    try:
        made = await state.db.write(lambda conn: invitations.invite(conn, visitor, email, role, now, lifetime))
    except KasirError as exc:
        values = {"email": str(email or ""), "role": str(role or "")}
        return await _team_page(request, visitor, error=_message(request, exc), values=values, status=exc.status_code)
    # Shown here, once, never after a redirect: the token is not stored to be shown again.
    # Reloading sends the form again, which makes a new link and voids this one.
    url = invitations.link(state.settings.public_url, made.token)
    words = _words(request)
    message = words["team_link_message"].format(merchant=visitor.merchant_name, link=url)
    context = {"invitation": made, "url": url, "whatsapp": "https://wa.me/?text=" + quote(message, safe="")}
    return render(request, "dashboard/team_invited.html", context, visitor=visitor, words=WORDS)


@router.post(BASE + "/invitations/{invitation_id}/revoke")
async def revoke(request: Request, invitation_id: str, visitor: Visitor = Depends(owners_only)) -> Response:
    await form(request, visitor)
    number = _number(invitation_id)
    state = app_state(request)
    now = utcnow()
    await state.db.write(lambda conn: invitations.revoke(conn, visitor, number, now))
    return redirect(f"{BASE}?done=revoked")


@router.post(BASE + "/users/{user_id}/role")
async def change_role(request: Request, user_id: str, visitor: Visitor = Depends(owners_only)) -> Response:
    params = await form(request, visitor)
    number = _number(user_id)
    role = params.get("role")
    state = app_state(request)
    now = utcnow()

    def change(conn: Connection) -> None:
        before = users.change_role(conn, visitor.merchant_id, visitor.user_id, number, role)
        details = {"from": before["role"], "to": role}
        audit.record(conn, visitor, "team.role", before["email"][:80], now, details=details)

    try:
        await state.db.write(change)
    except (InvalidRequest, Conflict) as exc:
        return await _team_page(request, visitor, error=_message(request, exc), status=exc.status_code)
    return redirect(f"{BASE}?done=role")


async def _member(request: Request, visitor: Visitor, number: int) -> dict[str, Any]:
    state = app_state(request)
    members = await state.db.read(lambda conn: users.team(conn, visitor.merchant_id))
    found = next((m for m in members if m["id"] == number), None)
    if found is None:
        raise NotFound("no such user in this team", code="user_not_found")
    return found


@router.get(BASE + "/users/{user_id}/remove")
async def remove_page(request: Request, user_id: str, visitor: Visitor = Depends(owners_only)) -> Response:
    member = await _member(request, visitor, _number(user_id))
    return render(request, "dashboard/team_remove.html", {"member": member}, visitor=visitor, words=WORDS)


@router.post(BASE + "/users/{user_id}/remove")
async def remove(request: Request, user_id: str, visitor: Visitor = Depends(owners_only)) -> Response:
    await form(request, visitor)
    number = _number(user_id)
    state = app_state(request)
    now = utcnow()

    def remove_user(conn: Connection) -> None:
        gone = users.remove_user(conn, visitor.merchant_id, visitor.user_id, number)
        audit.record(conn, visitor, "team.remove", gone["email"][:80], now, details={"role": gone["role"]})

    try:
        await state.db.write(remove_user)
    except Conflict as exc:
        return await _team_page(request, visitor, error=_message(request, exc), status=exc.status_code)
    return redirect(f"{BASE}?done=removed")


# --- the invitation's page: no session, the token is the key -----------------------------------


async def _throttled(request: Request, token: str) -> float:
    """Seconds to wait before this address may try an invitation link again: wrong links count
    against the address as failed sign-ins do (kasir.api.login_throttle), so guessing links is
    as slow as guessing passwords."""
    state = app_state(request)
    return await state.login_throttle.wait(_throttle_account(token), state.addresses(request.scope))


def _throttle_account(token: str) -> str:
    return "invitation:" + token[: invitations.MAX_TOKEN]


async def _invalid(request: Request, token: str) -> Response:
    state = app_state(request)
    await state.login_throttle.failed(_throttle_account(token), state.addresses(request.scope))
    raise invitations.InvitationInvalid(_words(request)["invite_invalid"])


def _refuse_throttled(request: Request, wait: float) -> Response:
    message = _words(request)["sign_in_throttled"].format(seconds=int(wait) + 1)
    return render(request, "dashboard/error.html", {"message": message, "code": "throttled"}, status_code=429)


async def _invitation_form(
    request: Request, token: str, invitation: dict[str, Any], *, error: str | None = None, status: int = 200
) -> Response:
    context = {"invitation": invitation, "action": f"{INVITE}/{token}", "error": error}
    return render(request, "dashboard/invite.html", context, status_code=status, words=WORDS)


@router.get(INVITE + "/{token}")
async def invitation_page(request: Request, token: str) -> Response:
    wait = await _throttled(request, token)
    if wait > 0:
        return _refuse_throttled(request, wait)
    state = app_state(request)
    now = utcnow()
    try:
        invitation = await state.db.read(lambda conn: invitations.find(conn, token, now))
    except invitations.InvitationInvalid:
        return await _invalid(request, token)
    return await _invitation_form(request, token, invitation)


@router.post(INVITE + "/{token}")
async def accept(request: Request, token: str) -> Response:
    wait = await _throttled(request, token)
    if wait > 0:
        return _refuse_throttled(request, wait)
    state = app_state(request)
    settings = state.settings
    params = await read_params(request)
    password = params.get("password") if isinstance(params.get("password"), str) else ""
    again = params.get("password_again") if isinstance(params.get("password_again"), str) else ""
    address = state.addresses(request.scope)
    now = utcnow()
    words = _words(request)
    try:
        invitation = await state.db.read(lambda conn: invitations.find(conn, token, now))
    except invitations.InvitationInvalid:
        return await _invalid(request, token)
    if password != again:
        return await _invitation_form(request, token, invitation, error=words["invite_mismatch"], status=400)

    def join(conn: Connection) -> str:
        return invitations.accept(
            conn,
            token,
            str(password),
            now,
            session_lifetime=settings.dashboard_session_lifetime,
            idle_timeout=settings.dashboard_idle_timeout,
            address=address,
        )

    try:
        new_token = await state.db.write(join)
    except invitations.InvitationInvalid:
        return await _invalid(request, token)
    except InvalidRequest as exc:
        return await _invitation_form(request, token, invitation, error=words["invite_weak"], status=exc.status_code)
    except Conflict as exc:
        raise Conflict(_message(request, exc), code=exc.code) from exc
    # Whoever was signed in in this browser is signed out: it is the new user's browser now.
    previous = session_token(request)
    if previous:
        await state.db.write(lambda conn: sessions.end(conn, previous))
    response = redirect(PREFIX)
    set_session_cookie(response, new_token, state)
    return response
