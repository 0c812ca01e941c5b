"""The hierarchy files: round trips (property-based), every error named, nothing half-read."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from balance_grid.hierarchy import (
    LEVELS,
    GridMeter,
    GridNode,
    HierarchyError,
    check_meters,
    parse_csv,
    parse_json,
    place_nodes,
    to_csv,
    to_json,
)

_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,12}", fullmatch=True)
_names = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n"),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)


@st.composite
def hierarchies(draw: st.DrawFn) -> tuple[list[GridNode], list[GridMeter]]:
    ids = draw(st.lists(_ids, min_size=1, max_size=12, unique=True))
    nodes: list[GridNode] = []
    for i, node_id in enumerate(ids):
        parents = [n for n in nodes if LEVELS.index(n.level) < len(LEVELS) - 1]
        parent = draw(st.sampled_from([None, *parents])) if i else None
        low = 0 if parent is None else LEVELS.index(parent.level) + 1
        level = draw(st.sampled_from(LEVELS[low:]))
        target = draw(st.one_of(st.none(), _ids))
        nodes.append(GridNode(node_id, parent.id if parent else None, level, draw(_names), target))
    meter_ids = draw(st.lists(_ids, max_size=8, unique=True))
    meters = []
    for j, meter_id in enumerate(meter_ids):
        node = draw(st.sampled_from(nodes))
        roles = ["subscriber"] if node.level == "flat" else ["subscriber", "feeder", "house_input"]
        meters.append(
            GridMeter(
                meter_id,
                node.id,
                draw(st.sampled_from(roles)),
                draw(st.sampled_from([None, "A", "B", "C"])),
                draw(_ids),
                f"res-{j}",
            )
        )
    return nodes, meters


@given(hierarchies())
def test_csv_and_json_round_trip(data: tuple[list[GridNode], list[GridMeter]]) -> None:
    nodes, meters = data
    assert parse_csv(to_csv(nodes, meters)) == (nodes, meters)
    assert parse_json(json.dumps(to_json(nodes, meters))) == (nodes, meters)
    placed = place_nodes(nodes, {})
    assert {p.id for p in placed} == {n.id for n in nodes}
    for p in placed:
        assert p.path.endswith(f"{p.id}/") and p.path.count("/") == p.depth + 1
    check_meters(meters, {n.id: n.level for n in nodes})


@given(st.text(max_size=300))
def test_any_text_is_parsed_or_refused_cleanly(text: str) -> None:
    for parse in (parse_csv, parse_json):
        errors: list[str] = []
        try:
            parse(text)
        except HierarchyError as err:
            errors = err.errors or ["(empty)"]
        assert all(isinstance(e, str) and e for e in errors)


def test_errors_name_their_lines() -> None:
    text = (
        "kind,id,parent,level,name,target,role,phase,ven_id,resource_name\n"
        "node,r1,,region,R,,,,,\n"
        "node,bad/id,r1,city,C,,,,,\n"
        "node,c1,r1,planet,C,,,,,\n"
        "meter,m1,r1,,,,subscriber,D,v,x\n"
        "meter,m2,r1,,,,thief,,v,y\n"
        "meter,m3,r1,,,,subscriber,,,\n"
        "pole,p1,,,,,,,,\n"
    )
    with pytest.raises(HierarchyError) as err:
        parse_csv(text)
    assert [e.split(":")[0] for e in err.value.errors] == [f"line {n}" for n in range(3, 9)]
    with pytest.raises(HierarchyError, match="lacks id"):
        parse_csv("kind,name\nnode,x\n")
    with pytest.raises(HierarchyError, match="not JSON"):
        parse_json("{")
    with pytest.raises(HierarchyError, match="appears twice"):
        parse_json(json.dumps({"nodes": [{"id": "a", "level": "region"}] * 2}))


def test_placement_refuses_bad_trees() -> None:
    house = GridNode("h", None, "house", "H")
    with pytest.raises(HierarchyError, match="cannot sit below"):
        place_nodes([house, GridNode("s", "h", "street", "S")], {})
    with pytest.raises(HierarchyError, match="does not exist"):
        place_nodes([GridNode("f", "nowhere", "flat", "F")], {})
    with pytest.raises(HierarchyError, match="cycle"):
        place_nodes([GridNode("a", "b", "city", "A"), GridNode("b", "a", "district", "B")], {})
    with pytest.raises(HierarchyError, match="cannot sit on a flat"):
        check_meters([GridMeter("m", "f", "feeder", None, "v", "r")], {"f": "flat"})
