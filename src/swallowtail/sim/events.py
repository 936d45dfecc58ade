"""The timed event graph of a Program: its vocabulary (event kinds, resource classes, symbolic weight codes)
and its data structure. The greedy engine records it at the compile arch (`swallowtail.sim.timing.record`);
the static-order replay (`swallowtail.sim.replay`) evaluates it on any other arch. A leaf: it imports
nothing of `swallowtail.sim`.

What is recorded: one node per event -- load, store, transfer issue, each further hop of a transfer, its
arrival at the receiver, compute instruction, each iteration's completion on each PE (the tag window), each
DMA transfer -- with its timing constraints as max-plus edges `t(v) >= t(u) + w`, where `w` is symbolic
(`W_*` codes: an FU latency, the SPM latency, a hop, a vector's serialisation on a link, a DMA slot's
arrival ...) and evaluated for the arch it is replayed on. Shared resources are per-request constraints on
the resource time `t(v) + offset`:

- a unit resource held `occ` cycles (a link: ceil(vector / link bytes); an SPM bank group: ceil(vector /
  line)): not before the previous request in its order has released it;
- a capacity resource (RF read ports: demand = operands read; write ports: demand 1), `cap` per cycle: not
  before the previous request in order, and one cycle after the request holding the unit position
  `cap` before this request's last one (next-fit packing in order, written as a max-plus constraint).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# event kinds
K_LD, K_ST, K_XF, K_CP, K_HOP, K_ARR, K_DONE, K_DMA_LD, K_DMA_ST = range(9)
# resource classes
R_BANK, R_LINK, R_RP, R_WP = range(4)
# symbolic weights (W_LAT / W_WAR / W_II are followed by one code per FU class; W_DMA codes are appended)
W_ZERO, W_ONE, W_SPM_LAT, W_WAR_LD, W_HOP, W_ARR, W_SPM_LAT_M1 = range(7)
W_FU = 7  # W_FU + 4 f + (0 latency, 1 write-after-read slack 2 - latency, 2 initiation interval, 3 latency-1)
#: slack when rounding a DMA transfer's fractional cycles up (a float sum that is a whole cycle stays one)
ROUND_EPS = 1e-9
#: edge cause codes beyond the stall causes: keep the current cause / take the source event's cause
KEEP, INHERIT = -1, -2


def w_lat(fu: int) -> int:
    return W_FU + 4 * fu


def w_war(fu: int) -> int:
    return W_FU + 4 * fu + 1


def w_ii(fu: int) -> int:
    return W_FU + 4 * fu + 2


def w_lat_m1(fu: int) -> int:
    return W_FU + 4 * fu + 3


@dataclass
class EventGraph:
    """The recorded events of one Program at its compile arch (see the module docstring)."""

    fu_names: list[str]
    n_pe: int
    kind: list[int] = field(default_factory=list)
    pe: list[int] = field(default_factory=list)
    t0: list[int] = field(default_factory=list)  # time at the compile arch (the sweep order)
    edges: list[list[tuple[int, int, int]]] = field(default_factory=list)  # (source, weight code, cause)
    # resource requests: (class, key, compile-arch resource time, offset weight code, demand)
    reqs: list[list[tuple[int, int, int, int, int]]] = field(default_factory=list)
    default_cause: list[int] = field(default_factory=list)
    iteration: list[int] = field(default_factory=list)  # completion events: the iteration, else -1
    dma: dict[int, tuple] = field(default_factory=dict)  # DMA event -> (op index, channel pred event, ...)
    dma_slot_w: list[tuple[int, int]] = field(default_factory=list)  # W_DMA code - base -> (op index, k)
    w_dma_base: int = 0  # the first W_DMA code (after the FU codes)
    n_instructions: int = 0
    iteration_batch: list[int] = field(default_factory=list)
    _order: tuple[list[int], list[int]] | None = None
    _res: dict[int, dict] = field(default_factory=dict)

    def sweep_order(self) -> tuple[list[int], list[int]]:
        """Events by compile-arch time (ties: grant order), and each event's position in that order."""
        if self._order is None:
            order = sorted(range(len(self.kind)), key=lambda v: (self.t0[v], v))
            pos = [0] * len(order)
            for k, v in enumerate(order):
                pos[v] = k
            self._order = (order, pos)
        return self._order

    def resource_orders(self, groups: int) -> dict[tuple[int, int], list[tuple[int, int, int, int]]]:
        """Per resource (class, key), its requests (time, event, offset code, demand) in compile-arch time
        order (ties: grant order), SPM bank keys mapped to `groups` bank groups."""
        got = self._res.get(groups)
        if got is None:
            got = {}
            for v, reqs in enumerate(self.reqs):
                for cls, key, rt, off, dem in reqs:
                    got.setdefault((cls, key % groups if cls == R_BANK else key), []).append(
                        (rt, v, off, dem)
                    )
            for lst in got.values():
                lst.sort()
            self._res[groups] = got
        return got

    def add(self, kind: int, pe: int, t: int, default_cause: int = KEEP, iteration: int = -1) -> int:
        v = len(self.kind)
        self.kind.append(kind)
        self.pe.append(pe)
        self.t0.append(t)
        self.edges.append([])
        self.reqs.append([])
        self.default_cause.append(default_cause)
        self.iteration.append(iteration)
        return v
