"""Properties of the QRIS engine over generated payloads (hypothesis).

``qris_payloads`` builds valid EMV MPM payloads the way real QRIS look, with everything an
issuer may vary: one to three merchant account templates (26–51, a reverse-domain GUI in
sub-tag 00), an optional point of initiation, amount, fee, postal code, additional data
template (62) and proprietary templates (80–99), the middle tags in any order, 00 first and the
CRC (63) last.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasir.qris.convert import REPLACED_TAGS, Fee, to_dynamic
from kasir.qris.emv import QrisError, crc_of, parse
from kasir.qris.image import read_codes, render_png
from kasir.qris.info import info

# No example database: it would leave a .hypothesis/ directory in the working tree. A failure
# still prints its falsifying example.
COMMON = settings(database=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(COMMON, max_examples=100, deadline=None)
RENDER = settings(COMMON, max_examples=25, deadline=None)

PRINTABLE = "".join(chr(code) for code in range(0x20, 0x7F))  # EMV "ans": printable ASCII


def obj(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def ans(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=PRINTABLE, min_size=min_size, max_size=max_size)


def not_blank(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return ans(min_size, max_size).filter(lambda text: text.strip() != "")


def digits(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=string.digits, min_size=min_size, max_size=max_size)


label = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=2, max_size=8)
reverse_domain = st.lists(label, min_size=2, max_size=4).map(".".join)


@st.composite
def merchant_account(draw: st.DrawFn) -> str:
    optional = [
        ("01", draw(digits(1, 19))),
        ("02", draw(st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=15))),
        ("03", draw(st.sampled_from(["UMI", "UKE", "UME", "UBE", "URE"]))),
    ]
    chosen = draw(st.lists(st.sampled_from(optional), unique=True, max_size=3))
    return obj("00", draw(reverse_domain)) + "".join(obj(tag, value) for tag, value in chosen)


def template(keys: list[str], value: st.SearchStrategy[str], max_items: int) -> st.SearchStrategy[str]:
    return st.dictionaries(st.sampled_from(keys), value, min_size=1, max_size=max_items).map(
        lambda items: "".join(obj(tag, v) for tag, v in items.items())
    )


amount_value = st.builds(
    lambda whole, cents: f"{whole}{'.00' if cents else ''}", st.integers(1, 10**10 - 1), st.booleans()
)
fee_objects = st.one_of(
    st.just([("55", "01")]),
    st.builds(lambda fee: [("55", "02"), ("56", str(fee))], st.integers(1, 10**6)),
    st.builds(lambda p: [("55", "03"), ("57", p)], st.sampled_from(["0.7", "1", "2.5", "10", "99.99"])),
)


@dataclass(frozen=True)
class Generated:
    qris: str
    objects: list[tuple[str, str]]  # every data object, CRC included, in order


@st.composite
def qris_payloads(draw: st.DrawFn) -> Generated:
    middle: list[tuple[str, str]] = []
    account_tags = draw(st.lists(st.integers(26, 51), min_size=1, max_size=3, unique=True))
    middle += [(f"{tag:02d}", draw(merchant_account())) for tag in account_tags]
    middle += [("52", draw(digits(4, 4))), ("53", "360")]
    middle += [("58", draw(st.text(alphabet=string.ascii_letters, min_size=2, max_size=2)))]
    middle += [("59", draw(not_blank(1, 25))), ("60", draw(not_blank(1, 15)))]
    initiation = draw(st.sampled_from([None, "11", "12"]))
    if initiation is not None:
        middle.append(("01", initiation))
    if draw(st.booleans()):
        middle.append(("54", draw(amount_value)))
    if draw(st.booleans()):
        middle += draw(fee_objects)
    if draw(st.booleans()):
        middle.append(("61", draw(st.one_of(digits(5, 5), ans(1, 10)))))
    if draw(st.booleans()):
        middle.append(("62", draw(template([f"{n:02d}" for n in range(1, 10)], ans(1, 20), 4))))
    proprietary = draw(st.dictionaries(st.integers(80, 99), ans(1, 40), max_size=3))
    middle += [(str(tag), value) for tag, value in proprietary.items()]
    ordered = draw(st.permutations(middle))
    body = obj("00", "01") + "".join(obj(tag, value) for tag, value in ordered) + "6304"
    crc = crc_of(body)
    return Generated(body + crc, [("00", "01"), *ordered, ("63", crc)])


def pairs(qris: str) -> list[tuple[str, str]]:
    return [(o.tag, o.value) for o in parse(qris).objects]


def kept(qris: str) -> list[tuple[str, str]]:
    return [(tag, value) for tag, value in pairs(qris) if tag not in REPLACED_TAGS]


amounts = st.integers(1, 10**13 - 1)  # up to 13 digits, the most tag 54 holds


# --- parsing --------------------------------------------------------------------------------


@FAST
@given(qris_payloads())
def test_parse_then_serialise_is_identity(generated: Generated) -> None:
    parsed = parse(generated.qris)
    assert parsed.serialise() == generated.qris
    assert [(o.tag, o.value) for o in parsed.objects] == generated.objects


@FAST
@given(qris_payloads())
def test_info_reads_what_was_written(generated: Generated) -> None:
    written = dict(generated.objects)
    described = info(generated.qris)
    assert described.merchant_name == written["59"]
    assert described.merchant_city == written["60"]
    assert described.mcc == written["52"]
    assert described.crc_valid
    assert [a.tag for a in described.acquirers] == [tag for tag, _ in generated.objects if "26" <= tag <= "51"]
    assert all(a.id and "." in a.id for a in described.acquirers)
    assert described.is_dynamic is (written.get("01") == "12")


@FAST
@given(qris_payloads(), st.data())
def test_a_single_character_substitution_is_always_detected(generated: Generated, data: st.DataObject) -> None:
    """A one-character change can never leave a valid payload. With an ASCII replacement the UTF-8
    bytes differ in exactly one byte, an error burst of at most 8 bits, which CRC-16 detects
    whatever the structure makes of it: if the result still parses down to a 4-character tag 63
    at the end, the CRC is checked over bytes that differ from the signed ones in one byte (or the
    CRC digits themselves changed). Other changes are caught earlier: a non-digit tag or length,
    a control character, trailing whitespace, a lowercase or non-hex CRC.

    (A non-ASCII replacement changes the byte length, which CRC-16 catches only with probability
    1 - 2^-16; it is left out so the property is exact.)"""
    text = generated.qris
    position = data.draw(st.integers(0, len(text) - 1), label="position")
    replacement = data.draw(st.characters(max_codepoint=0x7F).filter(lambda c: c != text[position]), label="char")
    tampered = text[:position] + replacement + text[position + 1 :]
    with pytest.raises(QrisError):
        parse(tampered)


# --- conversion -----------------------------------------------------------------------------


@FAST
@given(qris_payloads(), amounts)
def test_to_dynamic_keeps_every_other_data_object(generated: Generated, amount: int) -> None:
    dynamic = to_dynamic(generated.qris, amount)
    parsed = parse(dynamic)  # parses: structure, fields and CRC
    assert crc_of(dynamic[:-4]) == dynamic[-4:]
    assert kept(dynamic) == [(t, v) for t, v in generated.objects if t not in REPLACED_TAGS]
    order = [o.tag for o in parsed.objects]
    assert order[:2] == ["00", "01"]
    assert parsed.get("01") == "12"
    assert parsed.get("54") == str(amount)
    assert order.index("54") + 1 == order.index("58")
    assert order[-1] == "63"
    assert not {"55", "56", "57"} & set(order)


@FAST
@given(qris_payloads(), amounts, st.sampled_from([None, Fee.prompt(), Fee.fixed(1500), Fee.percent("0.7")]))
def test_to_dynamic_with_fee(generated: Generated, amount: int, fee: Fee | None) -> None:
    dynamic = to_dynamic(generated.qris, amount, fee)
    parsed = parse(dynamic)
    order = [o.tag for o in parsed.objects]
    embedded = ["54", *(o.tag for o in (fee.objects() if fee else []))]
    at = order.index("54")
    assert order[at : at + len(embedded) + 1] == [*embedded, "58"]
    assert kept(dynamic) == [(t, v) for t, v in generated.objects if t not in REPLACED_TAGS]


@FAST
@given(qris_payloads(), amounts)
def test_to_dynamic_is_idempotent(generated: Generated, amount: int) -> None:
    once = to_dynamic(generated.qris, amount)
    assert to_dynamic(once, amount) == once


@FAST
@given(qris_payloads(), amounts, amounts)
def test_reconverting_only_changes_the_amount(generated: Generated, first: int, second: int) -> None:
    assert to_dynamic(to_dynamic(generated.qris, first), second) == to_dynamic(generated.qris, second)


# --- images ---------------------------------------------------------------------------------


@RENDER
@given(qris_payloads())
def test_render_png_then_read_codes(generated: Generated) -> None:
    assert read_codes(render_png(generated.qris)) == [generated.qris]
