"""The hierarchy and its CSV/JSON import and export: round trips, and bad files rejected whole."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balance_grid import Hierarchy, HierarchyError, Meter, Node
from balance_grid.hierarchy import KINDS, METER_PHASES


def _town() -> Hierarchy:
    nodes = [
        Node("r", None, "region", "North"),
        Node("c", "r", "city", "Bălți"),
        Node("s", "c", "street", "Main, 1-9"),
        Node("h1", "s", "house", "No. 1"),
        Node("f1", "h1", "flat", "1"),
        Node("f2", "h1", "flat", "2"),
        Node("h2", "s", "house", 'No. 3, "old"'),
    ]
    meters = [
        Meter("g-s", "s", "group"),
        Meter("g-h1", "h1", "group"),
        Meter("m1", "f1", "subscriber", "A"),
        Meter("m2", "f2", "subscriber", "B"),
        Meter("m3", "h2", "subscriber", "ABC"),
    ]
    return Hierarchy(nodes, meters)


_REGION = "id,parent_id,kind,name\nr,,region,R\n"


def test_tree_queries() -> None:
    town = _town()
    assert [n.id for n in town.roots()] == ["r"]
    assert [n.id for n in town.children("h1")] == ["f1", "f2"]
    assert [n.id for n in town.descendants("s")] == ["h1", "f1", "f2", "h2"]
    assert town.group_meter("h1") == Meter("g-h1", "h1", "group")
    assert town.group_meter("f1") is None
    assert [m.id for m in town.subscribers("s")] == ["m1", "m2", "m3"]
    assert [m.id for m in town.subscribers("h1")] == ["m1", "m2"]


def test_csv_and_json_round_trip() -> None:
    town = _town()
    assert Hierarchy.from_csv(*town.to_csv()) == town
    assert Hierarchy.from_json(town.to_json()) == town
    nodes_csv, meters_csv = town.to_csv()
    assert nodes_csv.splitlines()[0] == "id,parent_id,kind,name"
    assert meters_csv.splitlines()[0] == "id,node_id,role,phase"


@pytest.mark.parametrize(
    ("nodes", "meters", "match"),
    [
        ("id,parent_id,kind,name\nr,,region,R\nr,,region,R\n", "", "appears twice"),
        ("id,parent_id,kind,name\nc,x,city,C\n", "", "unknown parent"),
        ("id,parent_id,kind,name\nr,,region,R\nc,r,town,C\n", "", "kind 'town'"),
        ("id,parent_id,kind,name\nh,,house,H\ns,h,street,S\n", "", "cannot be under"),
        ("id,parent,kind,name\nr,,region,R\n", "", "header must be"),
        ("id,parent_id,kind,name\nr,,region\n", "", "3 cells"),
        ("id,parent_id,kind,name\n,,region,R\n", "", "id is missing"),
        (
            "id,parent_id,kind,name\nr,,region,R\n",
            "id,node_id,role,phase\nm,x,group,\n",
            "unknown node",
        ),
        ("id,parent_id,kind,name\nr,,region,R\n", "id,node_id,role,phase\nm,r,boss,\n", "role"),
        ("id,parent_id,kind,name\nr,,region,R\n", "id,node_id,role,phase\nm,r,group,A\n", "phase"),
        (
            "id,parent_id,kind,name\nr,,region,R\n",
            "id,node_id,role,phase\nm,r,subscriber,D\n",
            "phase",
        ),
        (
            "id,parent_id,kind,name\nr,,region,R\n",
            "id,node_id,role,phase\nm,r,group,\nn,r,group,\n",
            "two group meters",
        ),
    ],
)
def test_bad_csv_is_rejected_with_where_and_why(nodes: str, meters: str, match: str) -> None:
    with pytest.raises(HierarchyError, match=match):
        Hierarchy.from_csv(nodes, meters)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{", "not JSON"),
        ("[]", "nodes"),
        ('{"nodes": {}}', "nodes"),
        ('{"nodes": [], "meters": 3}', "meters"),
        ('{"nodes": [1]}', r"nodes\[0\]: expected an object"),
        ('{"nodes": [{"id": 1, "kind": "region"}]}', "string or null"),
        ('{"nodes": [{"id": "r"}]}', "kind is missing"),
    ],
)
def test_bad_json_is_rejected(text: str, match: str) -> None:
    with pytest.raises(HierarchyError, match=match):
        Hierarchy.from_json(text)


_ids = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)
_names = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=20,
)


@st.composite
def hierarchies(draw: st.DrawFn) -> Hierarchy:
    """Random valid trees: each node's kind is deeper than its parent's."""
    ids = draw(st.lists(_ids, min_size=1, max_size=15, unique=True))
    nodes: list[Node] = []
    for i, node_id in enumerate(ids):
        parents = [n for n in nodes if KINDS.index(n.kind) < len(KINDS) - 1]
        parent = draw(st.sampled_from(parents)) if parents and i and draw(st.booleans()) else None
        lowest = KINDS.index(parent.kind) + 1 if parent else 0
        kind = draw(st.sampled_from(KINDS[lowest:]))
        nodes.append(Node(node_id, parent.id if parent else None, kind, draw(_names)))
    meter_ids = draw(st.lists(_ids, max_size=10, unique=True))
    meters: list[Meter] = []
    grouped: set[str] = set()
    for meter_id in meter_ids:
        node = draw(st.sampled_from(nodes))
        if node.id not in grouped and draw(st.booleans()):
            grouped.add(node.id)
            meters.append(Meter(meter_id, node.id, "group"))
        else:
            phase = draw(st.sampled_from((None, *METER_PHASES)))
            meters.append(Meter(meter_id, node.id, "subscriber", phase))
    return Hierarchy(nodes, meters)


@given(hierarchies())
@settings(max_examples=150, deadline=None)
def test_any_hierarchy_survives_csv(town: Hierarchy) -> None:
    assert Hierarchy.from_csv(*town.to_csv()) == town


@given(hierarchies())
@settings(max_examples=150, deadline=None)
def test_any_hierarchy_survives_json(town: Hierarchy) -> None:
    assert Hierarchy.from_json(town.to_json()) == town


@given(st.text(max_size=200), st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_csv_is_parsed_or_rejected_cleanly(nodes: str, meters: str) -> None:
    try:
        town = Hierarchy.from_csv(nodes, meters)
    except HierarchyError:
        return
    assert Hierarchy.from_csv(*town.to_csv()) == town


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(["nodes", "meters", "id", "kind", "x"]), inner)
        ),
        max_leaves=20,
    )
)
@settings(max_examples=300, deadline=None)
def test_arbitrary_json_is_parsed_or_rejected_cleanly(doc: object) -> None:
    try:
        town = Hierarchy.from_json(json.dumps(doc))
    except HierarchyError:
        return
    assert Hierarchy.from_json(town.to_json()) == town
