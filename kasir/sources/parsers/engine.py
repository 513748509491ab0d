"""The table an app module declares, and the one way every table is read.

An app is a list of rules, tried in order; the first that matches decides:

- a :class:`Credit` is one of the app's incoming phrases. Its regex names the amount *inside the
  phrase* (``{amount}``), so the figure taken is the one the phrase is about, never whichever
  ``Rp`` comes first or last (a balance sentence beside it changes nothing);
- an :class:`Ignore` is a known notification that is not money in: the merchant's own payments,
  promotions, codes.

A notification no rule matches is :class:`~.results.Unparsed` (``"no_rule"``): stored for a person
to read, nothing guessed. Rules are phrases, never loose keywords (``diterima``, ``masuk``,
``berhasil``, ``qris`` appear in the merchant's own outgoing payments too).

Placeholders in a rule's regex: ``{amount}`` (the app's :class:`~.amounts.AmountStyle`, currency
included), ``{payer}`` (a name up to the end of its sentence), ``{reference}`` (a transaction
number, left out when the app truncated it: a cut-off id would make two payments look like one).
Titles must match whole (``fullmatch``); bodies are searched, ``big_text`` before ``text``
because some apps truncate ``text``. Matching ignores case and runs on normalised text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kasir.sources.parsers.amounts import AmountError, AmountStyle, read_amount
from kasir.sources.parsers.results import Ignored, Incoming, Invalid, Notification, Result, Unparsed

_PAYER = r"(?P<payer>[^\W_](?:[^.]|\.(?=\S))*)"  # stops at ". " or a final "."; "PT.ABC" stays whole
_REFERENCE = r"(?P<reference>[0-9]+)(?![0-9]|\.\.|…)"  # "1335..." / "1335…" is truncated: no reference

# Far longer than any payment notification. Anything longer is left for review unread: it bounds
# the work the phrase regexes' backtracking can be made to do by a hostile or broken forwarder.
LONGEST_TEXT = 4_000

# Characters that are there but not seen: they would split "Rp" from its figure invisibly.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))


def normalise(text: str) -> str:
    """One space for every run of whitespace (NBSP, narrow NBSP, newlines…), invisibles removed."""
    return " ".join(text.translate(_INVISIBLE).split())


@dataclass(frozen=True, slots=True)
class Credit:
    """An incoming phrase: money in. ``{amount}`` must appear in ``title`` or ``body``, once."""

    title: str | None = None
    body: str | None = None


@dataclass(frozen=True, slots=True)
class Ignore:
    """A notification the app posts that is not money in; ``reason`` is the :class:`Ignored` code."""

    reason: str
    title: str | None = None
    body: str | None = None


Rule = Credit | Ignore

# Shared tables. A promotion's *title* is checked before the incoming phrases: a cashback or
# voucher "received" is money from the app, not from a buyer, and must not pay an order. Bodies
# are checked after them, because an incoming body names the merchant or the payer ("… di Toko
# Diskon"), and a shop's name must not make its payments vanish.
_PROMOTION = r"\b(?:promo\w*|cashback|diskon|voucher)\b"
_CODE = r"\b(?:OTP|kode verifikasi)\b"
PROMOTION_TITLES: tuple[Rule, ...] = (Ignore("promotion", title=f".*{_PROMOTION}.*"),)
NOT_PAYMENTS: tuple[Rule, ...] = (
    Ignore("promotion", body=_PROMOTION),
    Ignore("otp", title=f".*{_CODE}.*"),
    Ignore("otp", body=_CODE),
)


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    title: re.Pattern[str] | None
    body: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class AppParser:
    """One app's table: its packages, how it writes amounts, and its rules in order."""

    name: str  # the app module's name, reported in every result
    packages: tuple[str, ...]
    amounts: AmountStyle
    rules: tuple[Rule, ...]
    # Another app on the same phone that reports these same payments (see gopay.py): the caller
    # ignores this app's credits when it also watches that one.
    superseded_by: str | None = None
    _compiled: tuple[_Compiled, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", tuple(self._compile(rule) for rule in self.rules))

    def _compile(self, rule: Rule) -> _Compiled:
        if rule.title is None and rule.body is None:
            raise ValueError(f"{self.name}: a rule needs a title or a body pattern")
        title, body = self._regex(rule.title), self._regex(rule.body)
        if isinstance(rule, Credit):
            holders = [p for p in (title, body) if p is not None and "amount" in p.groupindex]
            if len(holders) != 1:
                raise ValueError(f"{self.name}: {rule} must name {{amount}} once, in its title or its body")
        return _Compiled(rule, title, body)

    def _regex(self, pattern: str | None) -> re.Pattern[str] | None:
        if pattern is None:
            return None
        expanded = (
            pattern.replace("{amount}", self.amounts.pattern)
            .replace("{payer}", _PAYER)
            .replace("{reference}", _REFERENCE)
        )
        return re.compile(expanded, re.IGNORECASE)

    def parse(self, notification: Notification) -> Result:
        title = normalise(notification.title)
        bodies = [normalise(notification.big_text or ""), normalise(notification.text)]
        bodies = [body for body in dict.fromkeys(bodies) if body]
        if max(len(title), *map(len, bodies), 0) > LONGEST_TEXT:
            return Unparsed("no_rule")
        for compiled in self._compiled:
            title_match = compiled.title.fullmatch(title) if compiled.title is not None else None
            if compiled.title is not None and title_match is None:
                continue
            body_match = _first_search(compiled.body, bodies) if compiled.body is not None else None
            if compiled.body is not None and body_match is None:
                continue
            if isinstance(compiled.rule, Ignore):
                return Ignored(compiled.rule.reason, self.name)
            return self._credit([m for m in (title_match, body_match) if m is not None])
        return Unparsed("no_rule")

    def _credit(self, matches: list[re.Match[str]]) -> Incoming | Invalid:
        raw = next(m["amount"] for m in matches if "amount" in m.re.groupindex)
        try:
            amount = read_amount(raw, self.amounts)
        except AmountError as error:
            return Invalid(error.code, str(error), self.name)
        return Incoming(amount, self.name, reference=_group(matches, "reference"), payer=_group(matches, "payer"))


def _first_search(pattern: re.Pattern[str], bodies: list[str]) -> re.Match[str] | None:
    for body in bodies:
        if (match := pattern.search(body)) is not None:
            return match
    return None


def _group(matches: list[re.Match[str]], name: str) -> str | None:
    for match in matches:
        if name in match.re.groupindex and (value := match[name]) is not None and value.strip():
            return value.strip()
    return None
