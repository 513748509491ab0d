"""Who writes the text of a notifier delivery: a renderer per event-type prefix.

The worker renders a message when it sends it, from the event's payload, and finds the renderer
by the event type's prefix: ``order.`` is the buyer's messages (buyer_texts, registered here);
``alert.`` is the owner's alerts, which kasir.alerts registers when it is imported, so delivery
imports nothing from the layers above it (docs/architecture.md, "Layers"). A notifier delivery
whose type no renderer claims fails its attempt with :class:`NoRenderer`, never silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kasir.delivery.notifiers import buyer_texts


@dataclass(frozen=True, slots=True)
class Text:
    """What one message says; ``subject`` is an email's subject line (empty: none)."""

    text: str
    subject: str = ""


# renderer(event_type, payload, public_url, medium) -> Text; medium is "whatsapp" or "email".
Renderer = Callable[[str, Mapping[str, Any], str, str], Text]


class NoRenderer(LookupError):
    """No renderer claims the event type: the process did not import the package that writes
    those messages (kasir.alerts for ``alert.*``)."""


_renderers: dict[str, Renderer] = {}


def register(prefix: str, renderer: Renderer) -> Renderer:
    """Render the notifier deliveries of every event type starting with ``prefix``; registering
    the same renderer again changes nothing, another one for a taken prefix is a mistake."""
    if not prefix:
        raise ValueError("a renderer's prefix must not be empty")
    current = _renderers.get(prefix)
    if current is not None and current is not renderer:
        raise ValueError(f"a renderer for {prefix!r} is already registered")
    _renderers[prefix] = renderer
    return renderer


def renderer_for(event_type: str) -> Renderer | None:
    """The renderer of the longest prefix ``event_type`` starts with, or None."""
    matches = [prefix for prefix in _renderers if event_type.startswith(prefix)]
    return _renderers[max(matches, key=len)] if matches else None


def registered() -> dict[str, Renderer]:
    return dict(_renderers)


def render(event_type: str, payload: Mapping[str, Any], public_url: str, *, medium: str) -> Text:
    renderer = renderer_for(event_type)
    if renderer is None:
        raise NoRenderer(
            f"no message renderer for {event_type!r} (registered: {', '.join(sorted(_renderers)) or 'none'})"
        )
    return renderer(event_type, payload, public_url, medium)


def _buyer(event_type: str, order: Mapping[str, Any], _public_url: str, _medium: str) -> Text:
    text = buyer_texts.render(event_type, order)
    if text is None:
        raise ValueError(f"no buyer message for {event_type}")
    return Text(text)


register("order.", _buyer)
