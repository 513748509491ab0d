"""One row shape per aggregate: a payment's row, and a credit's, is a plain dict keyed by the
columns of its table (docs/architecture.md, "Data path"). The TypedDicts that type those dicts
for mypy name exactly the table's columns: a column added to kasir.db.tables fails here until
its TypedDict names it too (the dicts themselves carry it already, tests/integration/db/
test_new_column.py)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import CheckConstraint, Table

from kasir.db.tables import mutations, payments
from kasir.payments.service import PayPagePayment
from kasir.payments.views import MutationRow, MutationStatus, PaymentRow, PaymentStatus, ReportedMutation


@pytest.mark.parametrize(
    ("row", "table"), [(PaymentRow, payments), (MutationRow, mutations)], ids=["payments", "mutations"]
)
def test_a_row_type_names_its_table_columns(row: type, table: Table) -> None:
    assert list(row.__annotations__) == list(table.c.keys())
    assert row.__required_keys__ == frozenset(table.c.keys())  # type: ignore[attr-defined]  # a TypedDict class, typed as a plain type here


def test_the_joined_shapes_add_to_the_row() -> None:
    assert ReportedMutation.__required_keys__ == frozenset([*mutations.c.keys(), "invoice_id", "late_invoice_id"])
    extra = {"merchant_name", "merchant_ovo_number", "image_public_id", "image_width", "image_height"}
    assert PayPagePayment.__required_keys__ == frozenset(payments.c.keys()) | extra


def allowed_values(table: Table, column: str) -> list[str]:
    """The values ``column IN (…)`` of the table's check constraint allows, in its order."""
    for constraint in table.constraints:
        if isinstance(constraint, CheckConstraint):
            text = str(constraint.sqltext)
            found = re.fullmatch(rf"{column} IN \((.*)\)", text)
            if found:
                return re.findall(r"'([^']*)'", found.group(1))
    raise AssertionError(f"no check constraint on {table.name}.{column}")


@pytest.mark.parametrize(
    ("states", "table"), [(PaymentStatus, payments), (MutationStatus, mutations)], ids=["payments", "mutations"]
)
def test_a_state_enum_is_what_the_table_allows(states: type[PaymentStatus | MutationStatus], table: Table) -> None:
    assert [state.value for state in states] == allowed_values(table, "status")
    # StrEnum: a state is the stored string, and compares equal to it.
    assert all(state == state.value and isinstance(state, str) for state in states)
