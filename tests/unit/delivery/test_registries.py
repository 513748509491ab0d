"""The two registries that let delivery serve the layers above it without importing them
(docs/architecture.md, "Layers"): the endpoint-disabled hooks (kasir.delivery.hooks) and the
message renderers of notifier deliveries (kasir.delivery.notifiers.renderers). kasir.alerts
plugs into both when it is imported."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from kasir.delivery import hooks
from kasir.delivery.notifiers import renderers

NOW = datetime(2026, 4, 16, 5, 25, tzinfo=UTC)
DELIVERY = Path(__file__).resolve().parents[3] / "kasir" / "delivery"


@pytest.fixture
def own_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's registrations stay in this test: each registry starts from what the process
    registered and goes back to it afterwards."""
    monkeypatch.setattr(hooks.endpoint_disabled, "_functions", list(hooks.endpoint_disabled.functions))
    monkeypatch.setattr(renderers, "_renderers", dict(renderers._renderers))


def test_importing_kasir_alerts_registers_its_hook_and_its_renderer() -> None:
    import kasir.alerts
    from kasir.alerts import messages

    assert kasir.alerts.alert_endpoint_disabled in hooks.endpoint_disabled.functions
    assert renderers.renderer_for("alert.source_silent") is messages.notifier_text
    assert renderers.renderer_for("order.paid") is not None  # the buyer's messages are delivery's own


@pytest.mark.usefixtures("own_registries")
def test_hooks_run_in_registration_order_and_registering_twice_is_once() -> None:
    seen: list[tuple[str, Any]] = []

    def first(conn: Connection, disabled: hooks.EndpointDisabled) -> None:
        seen.append(("first", disabled))

    def second(conn: Connection, disabled: hooks.EndpointDisabled) -> None:
        seen.append(("second", disabled.cause))

    hooks.endpoint_disabled._functions.clear()
    assert hooks.on_endpoint_disabled(first) is first
    hooks.on_endpoint_disabled(second)
    hooks.on_endpoint_disabled(first)
    assert hooks.endpoint_disabled.functions == (first, second)

    disabled = hooks.EndpointDisabled({"public_id": "ep_1"}, hooks.DisableCause.NO_SUCCESS, NOW, failing_for=86400)
    hooks.endpoint_disabled(None, disabled)  # type: ignore[arg-type]  # these hooks never touch it
    assert seen == [("first", disabled), ("second", hooks.DisableCause.NO_SUCCESS)]


@pytest.mark.usefixtures("own_registries")
def test_a_renderer_is_found_by_the_longest_prefix_of_the_event_type() -> None:
    def everything(event_type: str, payload: Mapping[str, Any], public_url: str, medium: str) -> renderers.Text:
        return renderers.Text(f"{event_type} via {medium}")

    def disabled_only(event_type: str, payload: Mapping[str, Any], public_url: str, medium: str) -> renderers.Text:
        return renderers.Text(f"{payload['endpoint']} is off", subject=public_url)

    renderers.register("endpoint.", everything)
    renderers.register("endpoint.disabled", disabled_only)
    renderers.register("endpoint.", everything)  # again: no change

    assert renderers.render("endpoint.enabled", {}, "https://kasir.test", medium="email") == renderers.Text(
        "endpoint.enabled via email"
    )
    assert renderers.render(
        "endpoint.disabled", {"endpoint": "ep_1"}, "https://kasir.test", medium="whatsapp"
    ) == renderers.Text("ep_1 is off", subject="https://kasir.test")


@pytest.mark.usefixtures("own_registries")
def test_a_taken_prefix_or_an_empty_one_is_refused() -> None:
    def other(event_type: str, payload: Mapping[str, Any], public_url: str, medium: str) -> renderers.Text:
        return renderers.Text("")

    with pytest.raises(ValueError, match="already registered"):
        renderers.register("order.", other)
    with pytest.raises(ValueError, match="empty"):
        renderers.register("", other)


@pytest.mark.usefixtures("own_registries")
def test_an_event_type_no_renderer_claims_is_an_error_that_names_it() -> None:
    renderers._renderers.pop("alert.", None)  # a process that never imported kasir.alerts
    assert renderers.renderer_for("alert.source_silent") is None
    with pytest.raises(renderers.NoRenderer, match=r"no message renderer for 'alert\.source_silent'"):
        renderers.render("alert.source_silent", {}, "https://kasir.test", medium="whatsapp")


def test_the_buyer_renderer_refuses_an_order_event_without_a_message() -> None:
    with pytest.raises(ValueError, match=r"no buyer message for order\.unknown"):
        renderers.render("order.unknown", {}, "https://kasir.test", medium="whatsapp")


def test_delivery_imports_nothing_from_alerts() -> None:
    """The cycle these registries broke: kasir.alerts imports delivery, never the reverse."""
    offenders = []
    for path in sorted(DELIVERY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {name}" for name in names if name.startswith("kasir.alerts")]
    assert offenders == []
