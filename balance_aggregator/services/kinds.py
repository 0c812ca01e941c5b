"""The six OpenADR object types the VTN keeps: who reads and writes them, what a reader sees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from balance_aggregator.storage import StoredObject


@dataclass(frozen=True, slots=True)
class Kind:
    name: str  # objectType
    read_scope: str
    write_scope: str
    targeted: bool  # privacy by targets (programs, events) rather than by owner


KINDS = {
    "PROGRAM": Kind("PROGRAM", "read_targets", "write_programs", True),
    "EVENT": Kind("EVENT", "read_targets", "write_events", True),
    "REPORT": Kind("REPORT", "read_ven_objects", "write_reports", False),
    "SUBSCRIPTION": Kind("SUBSCRIPTION", "read_ven_objects", "write_subscriptions", False),
    "VEN": Kind("VEN", "read_ven_objects", "write_vens", False),
    "RESOURCE": Kind("RESOURCE", "read_ven_objects", "write_vens", False),
}

#: the URL path (and MQTT topic) segment of each object type
COLLECTION = {
    "PROGRAM": "programs",
    "EVENT": "events",
    "REPORT": "reports",
    "SUBSCRIPTION": "subscriptions",
    "VEN": "vens",
    "RESOURCE": "resources",
}


def view(obj: StoredObject, visible: set[str] | None) -> dict[str, Any]:
    """The body a reader gets: with ``visible``, the targets it may not see are left out (the
    spec's target hiding); None shows every target."""
    body = dict(obj.body)
    if visible is not None and obj.targets:
        shown = [t for t in obj.targets if t in visible]
        body["targets"] = shown
    return body
