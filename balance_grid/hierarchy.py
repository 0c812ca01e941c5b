"""The balance hierarchy (region, city, district, street, house, flat), its meters and its files.

Nodes are places; meters hang on nodes. Group meters (a street's feeder, a house input) measure
what enters a group, subscriber meters what leaves it, each on its phase. A meter's readings are
named by ``(ven_id, resource_name)``: the VEN that reports them and the resource it reports.

Import and export as CSV or JSON, with every error named by its line; a bad file is refused whole.

One CSV holds nodes and meters (column ``kind``), so a whole network travels as one file:

    kind,id,parent,level,name,target,role,phase,ven_id,resource_name
    node,r1,,region,North,,,,,
    node,h1,s1,house,Main St 1,feeder-7,,,,
    meter,h1-in,h1,,,,house_input,,ven-h1,input
    meter,f1-m,f1,,,,subscriber,B,ven-h1,flat-1

For a meter, ``parent`` is the node it belongs to. JSON is ``{"nodes": [...], "meters": [...]}``
with the same field names (``parent`` / ``node`` for the owner).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LEVELS = ("region", "city", "district", "street", "house", "flat")
LEVEL_DEPTH = {level: depth for depth, level in enumerate(LEVELS)}
#: feeder and house input meters measure what enters a group; subscriber meters what leaves it
GROUP_ROLES = ("feeder", "house_input")
METER_ROLES = (*GROUP_ROLES, "subscriber")
PHASES = ("A", "B", "C")
#: ids become parts of a materialised path joined by "/", and appear in URLs
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


@dataclass(frozen=True, slots=True)
class GridNode:
    id: str
    parent_id: str | None
    level: str
    name: str
    #: the DR group (OpenADR target) the VENs below this node carry, if any
    target: str | None = None


@dataclass(frozen=True, slots=True)
class GridMeter:
    id: str
    node_id: str
    role: str
    phase: str | None
    #: the meter's readings are the VTN's readings of (ven_id, resource_name, electricity)
    ven_id: str
    resource_name: str


@dataclass(frozen=True, slots=True)
class StoredNode:
    """A node as stored: with its materialised path ("r/c/d/") and depth from its root."""

    id: str
    parent_id: str | None
    level: str
    name: str
    target: str | None
    path: str
    depth: int


CSV_COLUMNS = (
    "kind",
    "id",
    "parent",
    "level",
    "name",
    "target",
    "role",
    "phase",
    "ven_id",
    "resource_name",
)
MAX_ERRORS = 20


class HierarchyError(ValueError):
    """The file is not a valid hierarchy; ``errors`` lists every problem found (up to 20)."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


class _Collector:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nodes: list[GridNode] = []
        self.meters: list[GridMeter] = []
        self._node_ids: set[str] = set()
        self._meter_ids: set[str] = set()
        self._sources: set[tuple[str, str]] = set()

    def fail(self, where: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"{where}: {message}")

    def node(self, where: str, raw: Mapping[str, Any]) -> None:
        if any("\x00" in _text(v) for v in raw.values()):
            self.fail(where, "NUL characters are not allowed")
            return
        node_id, parent, level = (
            _text(raw.get("id")),
            _text(raw.get("parent")),
            _text(raw.get("level")),
        )
        name = _text(raw.get("name")) or node_id
        target = _text(raw.get("target")) or None
        if not ID_PATTERN.match(node_id):
            self.fail(where, f"node id {node_id!r} must be 1-128 letters, digits or _ . : -")
            return
        if node_id in self._node_ids:
            self.fail(where, f"node {node_id} appears twice")
            return
        if level not in LEVEL_DEPTH:
            self.fail(where, f"level {level!r} is not one of {', '.join(LEVELS)}")
            return
        if parent and not ID_PATTERN.match(parent):
            self.fail(where, f"parent id {parent!r} is not a valid id")
            return
        if parent == node_id:
            self.fail(where, f"node {node_id} cannot be its own parent")
            return
        if len(name) > 200 or (target is not None and len(target) > 128):
            self.fail(where, "name is limited to 200 and target to 128 characters")
            return
        self._node_ids.add(node_id)
        self.nodes.append(GridNode(node_id, parent or None, level, name, target))

    def meter(self, where: str, raw: Mapping[str, Any]) -> None:
        if any("\x00" in _text(v) for v in raw.values()):
            self.fail(where, "NUL characters are not allowed")
            return
        meter_id = _text(raw.get("id"))
        node_id = _text(raw.get("node")) or _text(raw.get("parent"))
        role, phase = _text(raw.get("role")), _text(raw.get("phase")).upper() or None
        ven_id, resource = _text(raw.get("ven_id")), _text(raw.get("resource_name"))
        if not ID_PATTERN.match(meter_id):
            self.fail(where, f"meter id {meter_id!r} must be 1-128 letters, digits or _ . : -")
            return
        if meter_id in self._meter_ids:
            self.fail(where, f"meter {meter_id} appears twice")
            return
        if not ID_PATTERN.match(node_id):
            self.fail(where, f"meter {meter_id} names no valid node")
            return
        if role not in METER_ROLES:
            self.fail(where, f"role {role!r} is not one of {', '.join(METER_ROLES)}")
            return
        if phase is not None and phase not in PHASES:
            self.fail(where, f"phase {phase!r} is not one of A, B, C")
            return
        if not ven_id or not resource or len(ven_id) > 128 or len(resource) > 128:
            self.fail(where, f"meter {meter_id} needs ven_id and resource_name (<= 128 chars)")
            return
        if (ven_id, resource) in self._sources:
            self.fail(where, f"readings {ven_id}/{resource} are claimed by two meters")
            return
        self._meter_ids.add(meter_id)
        self._sources.add((ven_id, resource))
        self.meters.append(GridMeter(meter_id, node_id, role, phase, ven_id, resource))

    def result(self) -> tuple[list[GridNode], list[GridMeter]]:
        if self.errors:
            raise HierarchyError(self.errors)
        return self.nodes, self.meters


def parse_csv(text: str) -> tuple[list[GridNode], list[GridMeter]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    out = _Collector()
    try:
        missing = {"kind", "id"} - set(reader.fieldnames or ())
        if missing:
            raise HierarchyError([f"line 1: the header lacks {', '.join(sorted(missing))}"])
        for row in reader:
            where = f"line {reader.line_num}"
            if None in row:
                out.fail(where, "more fields than the header has columns")
                continue
            kind = _text(row.get("kind"))
            if kind == "node":
                out.node(where, row)
            elif kind == "meter":
                out.meter(where, row)
            else:
                out.fail(where, f"kind {kind!r} must be node or meter")
    except csv.Error as err:
        raise HierarchyError([f"line {reader.line_num}: not CSV: {err}"]) from err
    return out.result()


def parse_json(text: str | bytes) -> tuple[list[GridNode], list[GridMeter]]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise HierarchyError([f"not JSON: {err}"]) from err
    if not isinstance(data, dict):
        raise HierarchyError(['the document must be an object {"nodes": [...], "meters": [...]}'])
    out = _Collector()
    for key, add in (("nodes", out.node), ("meters", out.meter)):
        items = data.get(key, [])
        if not isinstance(items, list):
            out.fail(key, "must be a list")
            continue
        for index, item in enumerate(items):
            if isinstance(item, dict):
                add(f"{key}[{index}]", item)
            else:
                out.fail(f"{key}[{index}]", "must be an object")
    return out.result()


def place_nodes(nodes: Sequence[GridNode], known: Mapping[str, StoredNode]) -> list[StoredNode]:
    """Paths and depths of ``nodes`` whose parents are in the file or already ``known``.

    Checks what the parser alone cannot: parents exist, a child sits below its parent's level,
    no cycles. Returns the nodes parents first."""
    errors: list[str] = []
    placed: dict[str, StoredNode] = {}
    by_id = {n.id: n for n in nodes}
    children: dict[str | None, list[GridNode]] = {}
    for n in nodes:
        parent = n.parent_id if n.parent_id in by_id else None
        children.setdefault(parent, []).append(n)
    ordered: list[StoredNode] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        n = stack.pop()
        if n.parent_id is None:
            path, depth = f"{n.id}/", 0
        else:
            parent_node = placed.get(n.parent_id) or known.get(n.parent_id)
            if parent_node is None:
                errors.append(f"node {n.id}: parent {n.parent_id} does not exist")
                continue
            if LEVEL_DEPTH[parent_node.level] >= LEVEL_DEPTH[n.level]:
                errors.append(f"node {n.id}: a {n.level} cannot sit below a {parent_node.level}")
                continue
            if f"/{n.id}/" in f"/{parent_node.path}":
                errors.append(f"node {n.id}: moving it below {n.parent_id} makes a cycle")
                continue
            path, depth = f"{parent_node.path}{n.id}/", parent_node.depth + 1
        stored = StoredNode(n.id, n.parent_id, n.level, n.name, n.target, path, depth)
        placed[n.id] = stored
        ordered.append(stored)
        stack.extend(reversed(children.get(n.id, [])))
    unplaced = [n.id for n in nodes if n.id not in placed]
    if unplaced and not errors:
        errors.append(f"nodes {', '.join(unplaced[:10])} form a cycle")
    if errors:
        raise HierarchyError(errors[:MAX_ERRORS])
    return ordered


def check_meters(meters: Iterable[GridMeter], levels: Mapping[str, str]) -> None:
    """Every meter hangs on an existing node; group meters never on a flat."""
    errors: list[str] = []
    for m in meters:
        level = levels.get(m.node_id)
        if level is None:
            errors.append(f"meter {m.id}: node {m.node_id} does not exist")
        elif m.role in GROUP_ROLES and level == "flat":
            errors.append(f"meter {m.id}: a {m.role} meter cannot sit on a flat")
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise HierarchyError(errors)


def to_csv(nodes: Iterable[StoredNode | GridNode], meters: Iterable[GridMeter]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for n in nodes:
        writer.writerow(
            ["node", n.id, n.parent_id or "", n.level, n.name, n.target or "", "", "", "", ""]
        )
    for m in meters:
        writer.writerow(
            ["meter", m.id, m.node_id, "", "", "", m.role, m.phase or "", m.ven_id, m.resource_name]
        )
    return out.getvalue()


def to_json(nodes: Iterable[StoredNode | GridNode], meters: Iterable[GridMeter]) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "id": n.id,
                "parent": n.parent_id,
                "level": n.level,
                "name": n.name,
                "target": n.target,
            }
            for n in nodes
        ],
        "meters": [
            {
                "id": m.id,
                "node": m.node_id,
                "role": m.role,
                "phase": m.phase,
                "ven_id": m.ven_id,
                "resource_name": m.resource_name,
            }
            for m in meters
        ],
    }
