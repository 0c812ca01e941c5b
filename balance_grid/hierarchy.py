"""The balance hierarchy: region → city → district → street → house → flat, and its meters.

Nodes are places; meters hang on nodes. A group meter measures everything below its node (a
feeder at a street, a house input); subscriber meters measure one flat or house and carry the
phase they are connected to. Import and export as CSV (two tables) or JSON (one document); a bad
file is rejected as a whole with an error naming the row, so that nothing is half-imported.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Literal, cast

NodeKind = Literal["region", "city", "district", "street", "house", "flat"]
MeterRole = Literal["group", "subscriber"]
KINDS: Final[tuple[NodeKind, ...]] = ("region", "city", "district", "street", "house", "flat")
ROLES: Final[tuple[MeterRole, ...]] = ("group", "subscriber")
METER_PHASES: Final = ("A", "B", "C", "ABC")
"""A single-phase subscriber's phase, or "ABC" for a three-phase connection."""
NODE_FIELDS: Final = ("id", "parent_id", "kind", "name")
METER_FIELDS: Final = ("id", "node_id", "role", "phase")


class HierarchyError(ValueError):
    """The hierarchy (or a file describing it) is not valid; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Node:
    """A place in the hierarchy."""

    id: str
    parent_id: str | None
    kind: NodeKind
    name: str


@dataclass(frozen=True, slots=True)
class Meter:
    """A meter on a node: the group's input meter, or a subscriber's meter with its phase."""

    id: str
    node_id: str
    role: MeterRole
    phase: str | None = None


class Hierarchy:
    """A validated tree of nodes with their meters."""

    def __init__(self, nodes: Iterable[Node], meters: Iterable[Meter] = ()) -> None:
        self.nodes: dict[str, Node] = {}
        for node in nodes:
            if node.id in self.nodes:
                raise HierarchyError(f"node {node.id!r} appears twice")
            self.nodes[node.id] = node
        self.meters: dict[str, Meter] = {}
        for meter in meters:
            if meter.id in self.meters:
                raise HierarchyError(f"meter {meter.id!r} appears twice")
            self.meters[meter.id] = meter
        self._children: dict[str | None, list[str]] = {}
        for node in self.nodes.values():
            self._children.setdefault(node.parent_id, []).append(node.id)
        self._validate()

    def _validate(self) -> None:
        for node in self.nodes.values():
            if not node.id:
                raise HierarchyError("a node has an empty id")
            if node.kind not in KINDS:
                raise HierarchyError(f"node {node.id!r} has unknown kind {node.kind!r}")
            if node.parent_id is None:
                continue
            parent = self.nodes.get(node.parent_id)
            if parent is None:
                raise HierarchyError(f"node {node.id!r} has unknown parent {node.parent_id!r}")
            if KINDS.index(node.kind) <= KINDS.index(parent.kind):
                raise HierarchyError(
                    f"node {node.id!r} ({node.kind}) cannot be under {parent.id!r} ({parent.kind})"
                )
        # kinds strictly deepen along every edge, so the parent links cannot form a cycle
        groups: set[str] = set()
        for meter in self.meters.values():
            if not meter.id:
                raise HierarchyError("a meter has an empty id")
            if meter.node_id not in self.nodes:
                raise HierarchyError(f"meter {meter.id!r} is on unknown node {meter.node_id!r}")
            if meter.role not in ROLES:
                raise HierarchyError(f"meter {meter.id!r} has unknown role {meter.role!r}")
            if meter.role == "group":
                if meter.node_id in groups:
                    raise HierarchyError(f"node {meter.node_id!r} has two group meters")
                groups.add(meter.node_id)
                if meter.phase is not None:
                    raise HierarchyError(f"group meter {meter.id!r} cannot have a phase")
            elif meter.phase is not None and meter.phase not in METER_PHASES:
                raise HierarchyError(
                    f"meter {meter.id!r} has phase {meter.phase!r}; expected one of "
                    f"{list(METER_PHASES)} or none"
                )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hierarchy):
            return NotImplemented
        return self.nodes == other.nodes and self.meters == other.meters

    __hash__ = None  # type: ignore[assignment]

    def roots(self) -> list[Node]:
        return [self.nodes[i] for i in self._children.get(None, [])]

    def children(self, node_id: str) -> list[Node]:
        return [self.nodes[i] for i in self._children.get(node_id, [])]

    def descendants(self, node_id: str) -> Iterator[Node]:
        """Every node below ``node_id``, depth first."""
        stack = list(reversed(self._children.get(node_id, [])))
        while stack:
            node = self.nodes[stack.pop()]
            yield node
            stack.extend(reversed(self._children.get(node.id, [])))

    def group_meter(self, node_id: str) -> Meter | None:
        return next(
            (m for m in self.meters.values() if m.node_id == node_id and m.role == "group"), None
        )

    def subscribers(self, node_id: str) -> list[Meter]:
        """Subscriber meters on ``node_id`` and every node below it."""
        under = {node_id, *(n.id for n in self.descendants(node_id))}
        return [m for m in self.meters.values() if m.role == "subscriber" and m.node_id in under]

    # ---------------------------------------------------------------- CSV

    def to_csv(self) -> tuple[str, str]:
        """(nodes.csv, meters.csv) text; an empty cell is "none" (a root's parent, no phase)."""
        nodes, meters = io.StringIO(), io.StringIO()
        nw = csv.writer(nodes, lineterminator="\n")
        nw.writerow(NODE_FIELDS)
        for n in self.nodes.values():
            nw.writerow((n.id, n.parent_id or "", n.kind, n.name))
        mw = csv.writer(meters, lineterminator="\n")
        mw.writerow(METER_FIELDS)
        for m in self.meters.values():
            mw.writerow((m.id, m.node_id, m.role, m.phase or ""))
        return nodes.getvalue(), meters.getvalue()

    @classmethod
    def from_csv(cls, nodes_csv: str, meters_csv: str = "") -> Hierarchy:
        nodes = [
            _node(row, f"nodes.csv line {line}")
            for line, row in _csv_rows(nodes_csv, NODE_FIELDS, "nodes.csv")
        ]
        meters = [
            _meter(row, f"meters.csv line {line}")
            for line, row in _csv_rows(meters_csv, METER_FIELDS, "meters.csv")
        ]
        return cls(nodes, meters)

    # ---------------------------------------------------------------- JSON

    def to_json(self) -> str:
        return json.dumps(
            {
                "nodes": [
                    {"id": n.id, "parent_id": n.parent_id, "kind": n.kind, "name": n.name}
                    for n in self.nodes.values()
                ],
                "meters": [
                    {"id": m.id, "node_id": m.node_id, "role": m.role, "phase": m.phase}
                    for m in self.meters.values()
                ],
            },
            ensure_ascii=False,
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Hierarchy:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise HierarchyError(f"not JSON: {err}") from err
        if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
            raise HierarchyError('expected an object with a "nodes" list (and a "meters" list)')
        raw_meters = doc.get("meters", [])
        if not isinstance(raw_meters, list):
            raise HierarchyError('"meters" must be a list')
        nodes = [
            _node(_json_row(r, f"nodes[{i}]"), f"nodes[{i}]") for i, r in enumerate(doc["nodes"])
        ]
        meters = [
            _meter(_json_row(r, f"meters[{i}]"), f"meters[{i}]") for i, r in enumerate(raw_meters)
        ]
        return cls(nodes, meters)


def _csv_rows(
    text: str, fields: tuple[str, ...], what: str
) -> Iterator[tuple[int, dict[str, str]]]:
    if not text.strip():
        return
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except csv.Error as err:
        raise HierarchyError(f"{what}: {err}") from err
    if tuple(h.strip() for h in header) != fields:
        raise HierarchyError(f"{what}: header must be {','.join(fields)}, got {','.join(header)}")
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != len(fields):
                raise HierarchyError(
                    f"{what} line {reader.line_num}: {len(row)} cells, expected {len(fields)}"
                )
            yield reader.line_num, dict(zip(fields, row, strict=True))
    except csv.Error as err:
        raise HierarchyError(f"{what} line {reader.line_num}: {err}") from err


def _json_row(raw: object, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise HierarchyError(f"{where}: expected an object")
    row: dict[str, str] = {}
    for key, value in cast(Mapping[object, object], raw).items():
        if value is None:
            row[str(key)] = ""
        elif isinstance(value, str):
            row[str(key)] = value
        else:
            raise HierarchyError(f"{where}: {key} must be a string or null")
    return row


def _required(row: Mapping[str, str], key: str, where: str) -> str:
    value = row.get(key, "")
    if not value:
        raise HierarchyError(f"{where}: {key} is missing")
    return value


def _node(row: Mapping[str, str], where: str) -> Node:
    kind = _required(row, "kind", where)
    if kind not in KINDS:
        raise HierarchyError(f"{where}: kind {kind!r} is not one of {list(KINDS)}")
    return Node(
        id=_required(row, "id", where),
        parent_id=row.get("parent_id") or None,
        kind=kind,
        name=row.get("name", ""),
    )


def _meter(row: Mapping[str, str], where: str) -> Meter:
    role = _required(row, "role", where)
    if role not in ROLES:
        raise HierarchyError(f"{where}: role {role!r} is not one of {list(ROLES)}")
    phase = row.get("phase") or None
    if phase is not None and phase not in METER_PHASES:
        raise HierarchyError(f"{where}: phase {phase!r} is not one of {list(METER_PHASES)}")
    return Meter(
        id=_required(row, "id", where),
        node_id=_required(row, "node_id", where),
        role=role,
        phase=phase,
    )
