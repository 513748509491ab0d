"""Reading the owner's alert recipients from the form (kasir.alerts.recipients), and naming a
recipient in a log or a page (kasir.delivery.notifiers): enough to recognise, not enough to use."""

from __future__ import annotations

import pytest

from kasir.alerts.causes import where_to
from kasir.alerts.recipients import MAX_EMAILS, parse_emails, parse_whatsapp
from kasir.delivery import notifiers
from kasir.errors import InvalidRequest


def test_emails_separated_by_lines_commas_or_spaces_once_each() -> None:
    given = "Pemilik@Toko.id\nops@toko-saya.co.id, admin+kasir@toko.id;pemilik@toko.id"
    assert parse_emails(given) == ["Pemilik@Toko.id", "ops@toko-saya.co.id", "admin+kasir@toko.id"]


@pytest.mark.parametrize(
    "given",
    ["", "   ", "pemilik", "pemilik@toko", "pemilik@@toko.id", "<pemilik@toko.id>", "a@toko.id\x00", "a@-toko.id"],
)
def test_what_is_not_an_email_address_is_refused(given: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_emails(given)
    assert refused.value.code == "invalid_email"


def test_at_most_five_addresses() -> None:
    parse_emails(" ".join(f"a{i}@toko.id" for i in range(MAX_EMAILS)))
    with pytest.raises(InvalidRequest, match="at most 5"):
        parse_emails(" ".join(f"a{i}@toko.id" for i in range(MAX_EMAILS + 1)))


def test_a_whatsapp_number_as_people_type_it() -> None:
    assert parse_whatsapp("0812-9876-5432") == "6281298765432"
    assert parse_whatsapp("+62 812 9876 5432") == "6281298765432"
    assert parse_whatsapp("  ") is None
    assert parse_whatsapp(None) is None
    with pytest.raises(InvalidRequest) as refused:
        parse_whatsapp("nomor saya")
    assert refused.value.code == "invalid_whatsapp"


def test_a_notifier_delivery_url_says_its_medium_and_recipient() -> None:
    assert notifiers.medium(notifiers.email_address("a@toko.id")) == "email"
    assert notifiers.recipient("email:a@toko.id") == "a@toko.id"
    assert notifiers.medium(notifiers.recipient_address("6281298765432")) == "whatsapp"
    assert notifiers.recipient("whatsapp:6281298765432") == "6281298765432"


def test_masked_addresses() -> None:
    assert notifiers.masked_email("pemilik@toko.id") == "pe***@toko.id"
    assert notifiers.masked_email("a@toko.id") == "a***@toko.id"
    assert notifiers.masked_email("not-an-address") == "***"


def test_an_alert_names_a_receiver_by_its_host_only() -> None:
    assert where_to("https://api.toko.id/kasir/callback?token=rahasia") == "api.toko.id"
    assert where_to("not a url") == "?"
