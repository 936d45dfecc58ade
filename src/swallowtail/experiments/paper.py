"""The paper's headline figures, from its abstract: the targets the reproduction is set against.

Wu et al., "Multilayer Dataflow: Orchestrate Butterfly Sparsity to Accelerate Attention Computation",
arXiv 2411.00734, abstract: vs Jetson Xavier NX up to 14.34x speedup (9.29x average) and 11.14x energy
efficiency on attention workloads; vs state-of-the-art attention accelerators of the same peak performance
2.38x-4.7x efficiency and 6.60x-15.37x energy reduction.

These numbers are printed beside ours (the headline table, the figures' reference lines) and read for the
*shape* of the abstract's ratios (which GPU denominator they imply); they are never used to compute, fit or
tune anything. Each figure keeps the text the abstract prints ("6.60x", not "6.6x").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One number of the abstract and the way the abstract prints it."""

    value: float
    text: str


@dataclass(frozen=True)
class Range:
    """A range of the abstract (lo - hi) and the way the abstract prints it."""

    lo: float
    hi: float
    text: str

    @property
    def compact(self) -> str:
        """The range without spaces around the dash, as a sentence writes it: '2.38x-4.7x'."""
        return self.text.replace(" - ", "-")


@dataclass(frozen=True)
class Abstract:
    """The headline figures of the paper's abstract."""

    source: str
    speedup_vs_xavier_max: Figure
    speedup_vs_xavier_avg: Figure
    energy_eff_vs_xavier: Figure
    efficiency_vs_same_peak: Range
    energy_reduction_vs_same_peak: Range

    @property
    def spread(self) -> float:
        """Max / average speedup over Xavier NX (14.34 / 9.29): a shape that does not depend on the array."""
        return self.speedup_vs_xavier_max.value / self.speedup_vs_xavier_avg.value

    @property
    def power_ratio(self) -> float:
        """Energy efficiency / average speedup over Xavier NX (11.14 / 9.29) = GPU power / array power."""
        return self.energy_eff_vs_xavier.value / self.speedup_vs_xavier_avg.value

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain values (ranges as (lo, hi))."""
        return {
            "source": self.source,
            "speedup_vs_xavier_max": self.speedup_vs_xavier_max.value,
            "speedup_vs_xavier_avg": self.speedup_vs_xavier_avg.value,
            "energy_eff_vs_xavier": self.energy_eff_vs_xavier.value,
            "efficiency_vs_same_peak": (self.efficiency_vs_same_peak.lo, self.efficiency_vs_same_peak.hi),
            "energy_reduction_vs_same_peak": (
                self.energy_reduction_vs_same_peak.lo,
                self.energy_reduction_vs_same_peak.hi,
            ),
        }


#: The abstract of arXiv 2411.00734 -- printed beside ours, never used to compute anything.
PAPER = Abstract(
    source="arXiv 2411.00734 abstract",
    speedup_vs_xavier_max=Figure(14.34, "14.34x"),
    speedup_vs_xavier_avg=Figure(9.29, "9.29x"),
    energy_eff_vs_xavier=Figure(11.14, "11.14x"),
    efficiency_vs_same_peak=Range(2.38, 4.7, "2.38x - 4.7x"),
    energy_reduction_vs_same_peak=Range(6.60, 15.37, "6.60x - 15.37x"),
)

__all__ = ["PAPER", "Abstract", "Figure", "Range"]
