"""The shape of a benchmark's output: named figures for the table, raw samples for the charts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Figure:
    """One number of one run. `key` is stable across runs so repeats can be summarized together."""

    key: str
    label: str
    unit: str
    value: float
    # What the figure is compared with, in words (a floor, a baseline or a target), for the table.
    compare: str = ""


@dataclass
class RunResult:
    scenario: str
    figures: list[Figure] = field(default_factory=list)
    # Raw per-item samples for the charts (e.g. per-resource latencies), keyed by series name.
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, label: str, unit: str, value: float, compare: str = "") -> None:
        self.figures.append(Figure(key, label, unit, float(value), compare))

    def value(self, key: str) -> float:
        for figure in self.figures:
            if figure.key == key:
                return figure.value
        raise KeyError(f"{self.scenario}: no figure {key!r}")
