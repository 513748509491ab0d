"""Merchants read by other packages: by the username a person types (``kasir demo``, the CLI),
their names and usernames by id, and joined into another aggregate's read (``with_merchant``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, select

from kasir.db.tables import merchants

S = TypeVar("S", bound=Select[Any])


def find_merchant_id(conn: Connection, username: str) -> int | None:
    """The id of the merchant ``username``, or None if there is none (``merchant_id_by_username``
    in kasir.merchants.service refuses instead)."""
    found = conn.execute(select(merchants.c.id).where(merchants.c.username == username)).scalar()
    return None if found is None else int(found)


def username_of(conn: Connection, merchant_id: int) -> str:
    return str(conn.execute(select(merchants.c.username).where(merchants.c.id == merchant_id)).scalar_one())


def name_of(conn: Connection, merchant_id: int) -> str | None:
    """The shop's name as buyers and the owner read it, or None for an unknown merchant."""
    found = conn.execute(select(merchants.c.name).where(merchants.c.id == merchant_id)).scalar()
    return None if found is None else str(found)


def usernames_of(conn: Connection, merchant_ids: Iterable[int]) -> dict[int, str]:
    """Each of ``merchant_ids``' username, in one query."""
    wanted = set(merchant_ids)
    if not wanted:
        return {}
    rows = conn.execute(select(merchants.c.id, merchants.c.username).where(merchants.c.id.in_(wanted)))
    return {int(merchant_id): str(username) for merchant_id, username in rows}


# The columns another package may read of a merchant through ``with_merchant``.
_READABLE = ("name", "username", "ovo_number")


def with_merchant(query: S, merchant_id: ColumnElement[Any], **labels: str) -> S:
    """``query`` joined to the merchant ``merchant_id`` names, with the merchant's columns added
    under the labels given (``merchant_name="name"``): one statement for a read that needs both,
    while the merchants table stays this package's (docs/architecture.md, "Aggregates and their
    owners")."""
    unknown = set(labels.values()) - set(_READABLE)
    if unknown:
        raise ValueError(f"not a readable merchant column: {', '.join(sorted(unknown))}")
    columns = [merchants.c[column].label(label) for label, column in labels.items()]
    return query.join(merchants, merchants.c.id == merchant_id).add_columns(*columns)  # type: ignore[return-value]
