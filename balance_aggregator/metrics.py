"""Prometheus text exposition without a client library: a few counters and histograms.

The numbers are per process; Prometheus sums replicas, so nothing here needs sharing.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), "")}"' for k, v in pairs
    )
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._help: dict[str, tuple[str, str]] = {}
        self._hist: dict[str, dict[tuple[tuple[str, str], ...], list[float]]] = defaultdict(dict)

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self._counters[name]
        series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        self._counters[name][tuple(sorted(labels.items()))] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self._hist[name].setdefault(key, [0.0] * (len(_BUCKETS) + 2))
        series[bisect.bisect_left(_BUCKETS, value)] += 1
        series[-1] += value

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(set(self._counters) | set(self._hist)):
            kind, text = self._help.get(name, ("untyped", name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            for key, value in sorted(self._counters.get(name, {}).items()):
                lines.append(f"{name}{_labels(key)} {value:g}")
            for key, series in sorted(self._hist.get(name, {}).items()):
                cumulative = 0.0
                for bound, count in zip((*_BUCKETS, float("inf")), series[:-1], strict=True):
                    cumulative += count
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    lines.append(f"{name}_bucket{_labels((*key, ('le', le)))} {cumulative:g}")
                lines.append(f"{name}_sum{_labels(key)} {series[-1]:g}")
                lines.append(f"{name}_count{_labels(key)} {cumulative:g}")
        return "\n".join(lines) + "\n"
