"""The team page over HTTP: inviting by a one-time set-password link, accepting it, changing a
role, removing a user (docs/dashboard.md, "The team").

Covered: an invitation's link is shown once (the database holds its SHA-256 only), is listed as
pending, and, opened with no session, asks for a password and makes the user with the invited role,
signed in, the invitation used; a second use, an expired, a revoked, a replaced and a made-up link
all get the same 404 page (no oracle) and make nobody; too many wrong links from one address are
throttled like sign-ins; a weak or mistyped password keeps the invitation pending; an email that
already signs in, a bad email or role are refused and write nothing; a role change applies at the
user's next request; removing a user ends their sessions at once; an owner cannot demote or remove
themselves; another merchant's users and invitations are 404; no CSRF token, no change; every
action is in the audit log with who did it, shown on the team page. Every test runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.app import create_app
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import audit_log, dashboard_invitations, dashboard_sessions, dashboard_users
from kasir.merchants.service import NewMerchant
from kasir.team import sessions, users
from tests.conftest import writes_nothing
from tests.dashboard_helpers import EMAIL, PASSWORD, csrf_of

TEAM = "/dashboard/team"
NEW_PASSWORD = "sandi-kasir-baru-9"
INVALID = "Tautan undangan ini tidak berlaku"


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


def sign_in(client: TestClient, email: str = EMAIL, password: str = PASSWORD) -> str:
    client.cookies.clear()
    response = client.post("/dashboard/login", data={"email": email, "password": password}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/dashboard/account").text)


def invite(client: TestClient, csrf: str, email: str, role: str = "cashier") -> str:
    """The invitation link the page shows, once."""
    shown = client.post(f"{TEAM}/invitations", data={"csrf_token": csrf, "email": email, "role": role})
    assert shown.status_code == 200, shown.text
    found = re.search(r'data-secret="invitation_link"[^>]*>([^<]+)<', shown.text)
    assert found, shown.text
    return found.group(1)


def path_of(link: str) -> str:
    assert link.startswith("http://kasir.test/dashboard/invite/")
    return link.removeprefix("http://kasir.test")


def rows(db: Database, table: sa.Table) -> list[dict[str, Any]]:
    return db.read_sync(lambda conn: [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()])


def accept(client: TestClient, path: str, password: str = NEW_PASSWORD, again: str | None = None) -> Any:
    client.cookies.clear()
    return client.post(
        path,
        data={"password": password, "password_again": password if again is None else again},
        follow_redirects=False,
    )


def test_an_invitation_is_shown_once_and_makes_the_user(client: TestClient, db: Database, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    link = invite(client, csrf, "Kasir.Depan@Toko.test", "cashier")
    token = link.rsplit("/", 1)[1]
    assert len(token) >= 43  # 32 random bytes
    [stored] = rows(db, dashboard_invitations)
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert stored["email"] == "kasir.depan@toko.test"
    assert stored["role"] == "cashier"
    assert stored["inviter_email"] == EMAIL
    lifetime = stored["expires_at"] - stored["created_at"]
    assert lifetime == timedelta(hours=72)
    page = client.get(TEAM)
    assert token not in page.text
    assert 'data-email="kasir.depan@toko.test"' in page.text.split('data-testid="pending"', 1)[1]

    # Opened in another browser, with no session.
    client.cookies.clear()
    form = client.get(path_of(link))
    assert form.status_code == 200
    assert "kasir.depan@toko.test" in form.text
    assert "Kasir" in form.text  # the role's name
    assert "Toko Satu" in form.text
    assert 'name="password"' in form.text
    joined = accept(client, path_of(link))
    assert joined.status_code == 303
    assert joined.headers["location"] == "/dashboard"
    overview = client.get("/dashboard")
    assert overview.status_code == 200
    assert "kasir.depan@toko.test" in overview.text
    assert 'href="/dashboard/webhooks"' not in overview.text  # a cashier's navigation

    made = next(u for u in rows(db, dashboard_users) if u["email"] == "kasir.depan@toko.test")
    assert made["role"] == "cashier"
    assert made["must_change_password"] is False
    assert made["last_sign_in_at"] is not None
    [used] = rows(db, dashboard_invitations)
    assert used["used_at"] is not None
    assert used["user_id"] == made["id"]
    sign_in(client, "kasir.depan@toko.test", NEW_PASSWORD)  # the password chosen works

    # Used: the link no longer works, and makes nobody.
    with writes_nothing(db):
        assert accept(client, path_of(link)).status_code == 404
        assert client.get(path_of(link)).status_code == 404

    actions = [(line["action"], line["actor"], line["subject"]) for line in rows(db, audit_log)]
    assert ("team.invite", EMAIL, "kasir.depan@toko.test") in actions
    assert ("team.join", "kasir.depan@toko.test", "kasir.depan@toko.test") in actions
    sign_in(client)
    history = client.get(TEAM).text.split('data-testid="history"', 1)[1]
    assert 'data-action="team.join"' in history
    assert 'data-action="team.invite"' in history


def test_a_weak_or_mistyped_password_keeps_the_invitation(
    client: TestClient, db: Database, owner: users.NewUser
) -> None:
    link = invite(client, sign_in(client), "dev@toko.test", "developer")
    with writes_nothing(db):
        short = accept(client, path_of(link), "pendek")
        assert short.status_code == 400
        assert "minimal 10 karakter" in short.text
        mistyped = accept(client, path_of(link), NEW_PASSWORD, NEW_PASSWORD + "x")
        assert mistyped.status_code == 400
        assert "tidak sama" in mistyped.text
        control = accept(client, path_of(link), "sandi\x07panjang-sekali")
        assert control.status_code == 400
    assert accept(client, path_of(link)).status_code == 303
    assert next(u for u in rows(db, dashboard_users) if u["email"] == "dev@toko.test")["role"] == "developer"


def test_every_dead_link_gets_the_same_page(client: TestClient, db: Database, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    expired = invite(client, csrf, "a@toko.test")
    revoked = invite(client, csrf, "b@toko.test")
    replaced = invite(client, csrf, "c@toko.test")
    replacement = invite(client, csrf, "c@toko.test")
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(dashboard_invitations)
            .where(dashboard_invitations.c.email == "a@toko.test")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    )
    [revoke_id] = [i["id"] for i in rows(db, dashboard_invitations) if i["email"] == "b@toko.test"]
    done = client.post(f"{TEAM}/invitations/{revoke_id}/revoke", data={"csrf_token": csrf}, follow_redirects=True)
    assert done.status_code == 200
    assert 'data-testid="done"' in done.text
    pending = done.text.split('data-testid="pending"', 1)[1]
    assert 'data-email="b@toko.test"' not in pending
    assert 'data-email="a@toko.test"' not in pending  # expired
    assert pending.count('data-email="c@toko.test"') == 1

    made_up = "/dashboard/invite/" + "A" * 43
    far_too_long = "/dashboard/invite/" + "A" * 500
    answers = []
    client.cookies.clear()  # as the person invited: no session
    with writes_nothing(db):
        for path in map(path_of, (expired, revoked, replaced)):
            answers.append(client.get(path))
            answers.append(accept(client, path))
        for path in (made_up, far_too_long):
            answers.append(client.get(path))
            answers.append(accept(client, path))
    for answer in answers:
        assert answer.status_code == 404
        assert INVALID in answer.text
    bodies = {answer.text for answer in answers}
    assert len(bodies) == 1  # not an oracle: the same page whatever the reason
    assert accept(client, path_of(replacement)).status_code == 303
    actions = [line["action"] for line in rows(db, audit_log)]
    assert actions.count("team.invite_revoke") == 1
    assert actions.count("team.join") == 1


@pytest.fixture
def strict_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """The app with 3 failed sign-ins a minute per address."""
    strict = settings.model_copy(update={"dashboard_login_address_limit": 3})
    with TestClient(create_app(strict, database=db, background=False)) as test_client:
        yield test_client


def test_guessing_links_is_throttled_like_signing_in(
    strict_client: TestClient, db: Database, owner: users.NewUser
) -> None:
    link = invite(strict_client, sign_in(strict_client), "kasir@toko.test")
    strict_client.cookies.clear()
    for n in range(3):
        assert strict_client.get(f"/dashboard/invite/tebakan-{n}").status_code == 404
    # Past the limit even the right link waits, and says how long: a guesser learns nothing.
    throttled = strict_client.get(path_of(link))
    assert throttled.status_code == 429
    assert "detik" in throttled.text
    assert accept(strict_client, path_of(link)).status_code == 429
    refused = strict_client.post("/dashboard/login", data={"email": EMAIL, "password": PASSWORD})
    assert refused.status_code == 429  # the same count as the sign-in's
    assert all(i["used_at"] is None for i in rows(db, dashboard_invitations))


def test_what_cannot_be_invited(client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    with writes_nothing(db):
        for email, role, status, words in (
            (EMAIL, "cashier", 409, "sudah dipakai"),
            ("bukan-email", "cashier", 400, "email yang benar"),
            ("x@toko.test", "admin", 400, "Pilih peran"),
            ("x@toko.test", "", 400, "Pilih peran"),
            ("x\x00@toko.test", "cashier", 400, ""),
        ):
            answer = client.post(f"{TEAM}/invitations", data={"csrf_token": csrf, "email": email, "role": role})
            assert answer.status_code == status, (email, role, answer.text)
            assert words in answer.text
        missing_csrf = client.post(f"{TEAM}/invitations", data={"email": "x@toko.test", "role": "cashier"})
        assert missing_csrf.status_code == 403


def test_a_role_change_applies_at_the_next_request(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    now = utcnow()

    def cashier(conn: sa.Connection) -> tuple[int, str]:
        user = users.create_user(conn, merchant.username, "kasir@toko.test", now, role="cashier", password=PASSWORD)
        return user.id, sessions.start(conn, user.id, now, 3600, None)

    cashier_id, cashier_token = db.write_sync(cashier)
    csrf = sign_in(client)
    owner_cookie = client.cookies.get(sessions.COOKIE)
    assert (
        client.post(f"{TEAM}/users/{cashier_id}/role", data={"csrf_token": csrf, "role": "sultan"}).status_code == 400
    )
    changed = client.post(
        f"{TEAM}/users/{cashier_id}/role", data={"csrf_token": csrf, "role": "developer"}, follow_redirects=False
    )
    assert changed.status_code == 303
    client.cookies.clear()
    client.cookies.set(sessions.COOKIE, cashier_token)
    assert client.get("/dashboard/webhooks").status_code == 200  # the same session, the new role
    client.cookies.clear()
    client.cookies.set(sessions.COOKIE, str(owner_cookie))
    [line] = [r for r in rows(db, audit_log) if r["action"] == "team.role"]
    assert line["actor"] == EMAIL
    assert line["subject"] == "kasir@toko.test"
    assert '"from":"cashier"' in line["details"]
    assert '"to":"developer"' in line["details"]
    page = client.get(TEAM).text
    assert 'data-action="team.role"' in page

    # Not one's own role: the owner stays an owner.
    with writes_nothing(db):
        own = client.post(f"{TEAM}/users/{owner.id}/role", data={"csrf_token": csrf, "role": "cashier"})
        assert own.status_code == 409
        assert "akun Anda sendiri" in own.text
        gone = client.post(f"{TEAM}/users/{owner.id}/remove", data={"csrf_token": csrf})
        assert gone.status_code == 409
        assert client.get(f"{TEAM}/users/999999/remove").status_code == 404
        assert client.post(f"{TEAM}/users/abc/role", data={"csrf_token": csrf, "role": "owner"}).status_code == 404
    team_page = client.get(TEAM).text
    own_row = team_page.split(f'data-user="{owner.id}"', 1)[1].split("</li>", 1)[0]
    assert "role-form" not in own_row  # no buttons to change oneself


def test_removing_a_user_ends_their_sessions(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    now = utcnow()

    def developer(conn: sa.Connection) -> tuple[int, list[str]]:
        user = users.create_user(conn, merchant.username, "dev@toko.test", now, role="developer", password=PASSWORD)
        return user.id, [sessions.start(conn, user.id, now, 3600, None) for _ in range(2)]

    developer_id, developer_tokens = db.write_sync(developer)
    # Something the developer did stays in the log after they go.
    client.cookies.set(sessions.COOKIE, developer_tokens[0])
    csrf_dev = sessions.csrf_of(developer_tokens[0])
    client.post("/dashboard/webhooks/rotate-secret", data={"csrf_token": csrf_dev})
    assert any(line["actor"] == "dev@toko.test" for line in rows(db, audit_log))

    csrf = sign_in(client)
    confirm = client.get(f"{TEAM}/users/{developer_id}/remove")
    assert confirm.status_code == 200
    assert "dev@toko.test" in confirm.text
    removed = client.post(f"{TEAM}/users/{developer_id}/remove", data={"csrf_token": csrf}, follow_redirects=True)
    assert removed.status_code == 200
    assert 'data-email="dev@toko.test"' not in removed.text.split('data-testid="members"', 1)[1].split("</ul>", 1)[0]
    assert all(u["email"] != "dev@toko.test" for u in rows(db, dashboard_users))
    assert all(s["user_id"] != developer_id for s in rows(db, dashboard_sessions))
    assert any(line["actor"] == "dev@toko.test" for line in rows(db, audit_log))
    [line] = [r for r in rows(db, audit_log) if r["action"] == "team.remove"]
    assert line["actor"] == EMAIL
    assert line["subject"] == "dev@toko.test"

    for token in developer_tokens:
        client.cookies.clear()
        client.cookies.set(sessions.COOKIE, token)
        page = client.get("/dashboard/webhooks", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/dashboard/login")
        with writes_nothing(db):
            post = client.post("/dashboard/webhooks/rotate-secret", data={"csrf_token": sessions.csrf_of(token)})
            assert post.status_code == 403
    refused = client.post("/dashboard/login", data={"email": "dev@toko.test", "password": PASSWORD})
    assert refused.status_code == 401


def test_another_merchants_team_is_not_found(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant, owner: users.NewUser
) -> None:
    now = utcnow()

    def theirs(conn: sa.Connection) -> int:
        users.create_user(conn, other_merchant.username, "boss@dua.test", now, password=PASSWORD)
        return users.create_user(
            conn, other_merchant.username, "kasir@dua.test", now, role="cashier", password=PASSWORD
        ).id

    their_cashier = db.write_sync(theirs)
    sign_in(client, "boss@dua.test")
    link = invite(client, csrf_of(client.get(TEAM).text), "baru@dua.test")
    [their_invitation] = [i["id"] for i in rows(db, dashboard_invitations)]

    csrf = sign_in(client)
    page = client.get(TEAM).text
    assert "dua.test" not in page
    with writes_nothing(db):
        assert client.get(f"{TEAM}/users/{their_cashier}/remove").status_code == 404
        assert client.post(f"{TEAM}/users/{their_cashier}/remove", data={"csrf_token": csrf}).status_code == 404
        role = client.post(f"{TEAM}/users/{their_cashier}/role", data={"csrf_token": csrf, "role": "owner"})
        assert role.status_code == 404
        revoke = client.post(f"{TEAM}/invitations/{their_invitation}/revoke", data={"csrf_token": csrf})
        assert revoke.status_code == 404
    # Their invitation makes a user of their merchant, whoever opens it.
    assert accept(client, path_of(link)).status_code == 303
    made = next(u for u in rows(db, dashboard_users) if u["email"] == "baru@dua.test")
    assert made["merchant_id"] != owner_merchant_id(db, EMAIL)


def owner_merchant_id(db: Database, email: str) -> int:
    return int(next(u for u in rows(db, dashboard_users) if u["email"] == email)["merchant_id"])


def test_accepting_signs_out_whoever_was_signed_in(client: TestClient, db: Database, owner: users.NewUser) -> None:
    link = invite(client, sign_in(client), "kasir@toko.test")
    owner_token = client.cookies.get(sessions.COOKIE)
    joined = client.post(
        path_of(link), data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}, follow_redirects=False
    )
    assert joined.status_code == 303
    hashes = {s["token_hash"] for s in rows(db, dashboard_sessions)}
    assert sessions.hash_token(str(owner_token)) not in hashes
    assert len(hashes) == 1
