"""The lineage graph around one dataset: ancestors to the left, descendants to the right.

Dataset-level edges come from each version's recorded parents; the children of the dataset's
own versions are also read through the ledger's lineage edges (``downstream_of``), so a child
registered by any writer shows up. Layout is a plain layered grid rendered as SVG links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etl_storage import Ledger
    from etl_web.catalog import Dataset

NODE_W, NODE_H, GAP_X, GAP_Y = 180, 36, 70, 18


@dataclass(frozen=True)
class Node:
    dataset_id: str
    layer: int
    x: int
    y: int
    focus: bool


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class LineageGraph:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H


def dataset_edges(datasets: Mapping[str, Dataset]) -> set[tuple[str, str]]:
    """(parent dataset, child dataset) pairs recorded on any version."""
    return {
        (parent.dataset_id, ds.dataset_id)
        for ds in datasets.values()
        for version in ds.versions
        for parent in version.record.parents
        if parent.dataset_id != ds.dataset_id
    }


def child_datasets(ledger: Ledger, ds: Dataset) -> dict[int, list[tuple[str, int]]]:
    """Per version of ``ds``: the (dataset, version) derived from it, from lineage edges."""
    out: dict[int, list[tuple[str, int]]] = {}
    for version in ds.versions:
        if version.record.id is None:
            continue
        children = []
        for edge in ledger.downstream_of(version.record.id):
            child = ledger.get_asset_by_id(edge.asset_id)
            if child is not None:
                children.append((child.dataset_id, child.version))
        out[version.number] = sorted(set(children))
    return out


def lineage_graph(
    focus: str, edges: set[tuple[str, str]], depth: int = 3, max_per_layer: int = 12
) -> LineageGraph:
    """Layers of ancestors (negative) and descendants (positive) of ``focus``."""
    layer_of: dict[str, int] = {focus: 0}
    for direction in (-1, 1):
        frontier = [focus]
        for step in range(1, depth + 1):
            nxt = []
            for node in frontier:
                linked = (
                    [p for p, c in edges if c == node]
                    if direction < 0
                    else [c for p, c in edges if p == node]
                )
                for other in sorted(linked):
                    if other not in layer_of:
                        layer_of[other] = direction * step
                        nxt.append(other)
            frontier = nxt
    layers: dict[int, list[str]] = {}
    for name, layer in sorted(layer_of.items(), key=lambda kv: (kv[1], kv[0])):
        if len(layers.setdefault(layer, [])) < max_per_layer:
            layers[layer].append(name)
    low = min(layers)
    tallest = max(len(names) for names in layers.values())
    height = tallest * (NODE_H + GAP_Y) + GAP_Y
    pos: dict[str, tuple[int, int]] = {}
    nodes: list[Node] = []
    for layer, names in layers.items():
        x = (layer - low) * (NODE_W + GAP_X) + 10
        offset = (height - len(names) * (NODE_H + GAP_Y) + GAP_Y) // 2
        for i, name in enumerate(names):
            y = offset + i * (NODE_H + GAP_Y)
            pos[name] = (x, y)
            nodes.append(Node(name, layer, x, y, name == focus))
    lines = [
        Edge(pos[p][0] + NODE_W, pos[p][1] + NODE_H // 2, pos[c][0], pos[c][1] + NODE_H // 2)
        for p, c in sorted(edges)
        if p in pos and c in pos
    ]
    width = (max(layers) - low + 1) * (NODE_W + GAP_X) - GAP_X + 20
    return LineageGraph(nodes, lines, width, height)
