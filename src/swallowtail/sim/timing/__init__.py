"""Cycle-level timing engine: executes a Program instruction by instruction with exact resource modelling,
and fast-forwards the periodic steady state of the software pipeline. The instruction-by-instruction part of
an iteration runs compiled (`swallowtail.sim.engine`); this package drives it, one room per idea:

- `driver`: `simulate_timing` (greedy or the recorded static order) and the iteration loop;
- `machine`: the Program's static tables on the arch (opcodes, routes, schedule, per-pass offsets);
- `state`: the mutable machine state the engine updates in place;
- `variants`: pass templates resolved into the engine's row tables per (tag slot, coefficient set);
- `dma`: the DMA channels and the Program's DMA ops;
- `fastforward` and `signature`: periodic-state detection and skipping;
- `record`: the event recorder (the event graph the static-order replay evaluates);
- `trace`: the activity trace.

What is modelled (every number from the arch spec, plus `MachineModel`'s named assumptions):

- per PE, four decoupled in-order pipelines (load, store, transfer, compute), one issue per cycle each;
  compute issues to the FMA unit (latency `fus.fma.latency`, one issue per `initiation_interval`);
- operand readiness (RAW) and register reuse (WAR: a register is written only after its last reader issued);
- RF ports: each cycle at most `read_ports` register reads (MUL 2, FMA / FMS 3, ST 1, XFER 1) and
  `write_ports` writes (compute write-back at issue + latency - 1, load data, transfer arrival);
- the tag window: iteration i on a PE issues nothing before iteration i - tag_slots has completed there
  (tag_slots <= `active_tags`, and what the RF holds);
- NoC: dimension-ordered routes over the hop set; each link carries `link_bytes_per_cycle` per cycle per
  direction (a vector occupies it ceil(vector / link) cycles), `hop_latency` per hop, links shared and
  contended across PEs and hops;
- SPM: `banks` banks of bytes_per_cycle / banks bytes; a vector access holds its bank group for one cycle
  (vector-wide groups); loads deliver after `spm_latency_cycles`;
- DMA: `channels` channels of `gbytes_per_s_per_channel` each, `latency_cycles` per transfer, FIFO per
  channel, through the SPM's DMA port (`dma_dedicated_spm_port`); a load into a buffer waits for the store
  that empties it; PE loads wait for the DMA data (and later passes for earlier passes' stores), slot by slot.

Arbitration: shared resources (RF ports, links, bank groups) are reservation tables; requests are granted
in program order (iteration by iteration, step by step), round-robin over the PEs within a load, transfer or
store step (the k-th access of every PE before the (k+1)-th of any: a fair arbiter; granting one PE's whole
step first gave that PE priority, and faster DRAM could then make a kernel 11% slower), each taking the
first free cycle at or after the cycle it is ready. Deterministic, never over-committed. This greedy
arbitration runs at the arch a Program was compiled for and fixes each resource's grant order; on any other
arch (`Program.compile_arch` differs: more link / SPM / DMA bandwidth, ...) the Program replays those orders
(`swallowtail.sim.replay`). Greedy first-free granting alone is not monotone (more bandwidth can move a
request into a cycle a later one would have used: up to 52 cycles slower with doubled bandwidth in random
searches); the static order is, and at the compile arch it reproduces the greedy schedule exactly.

Stall attribution: every cycle a PE's compute pipeline does not issue is charged to the reason its next
compute instruction could not issue earlier: `operand` (a compute result / FU latency), `noc` (a transferred
operand), `spm` (a loaded operand: bank conflicts, load pipeline, data from an earlier pass), `dma` (data or
coefficients still on their way from DRAM), `tag_window`, `rf_port`; cycles after a PE's last compute
instruction are `drain` (the last stores and the DMA of the results). The names: `swallowtail.sim.stats`.

Fast-forward: see `swallowtail.sim.timing.fastforward`. `fast_forward=False` simulates every instruction;
tests check both give the same cycles.

Imports: this package imports `swallowtail.sim.engine`, `.events`, `.stats` and `.replay`; none of them
imports it.
"""

from __future__ import annotations

from swallowtail.sim.stats import (
    C_DMA,
    C_NOC,
    C_OPERAND,
    C_RFPORT,
    C_SPM,
    C_TAG,
    CAUSES,
    DRAIN,
    TimingStats,
)
from swallowtail.sim.timing.driver import (
    PRUNE_EVERY,
    GreedyRun,
    check_ports,
    event_graph,
    simulate_timing,
)
from swallowtail.sim.timing.machine import PIPE_OPS
from swallowtail.sim.timing.state import NEVER

__all__ = [
    "CAUSES",
    "C_DMA",
    "C_NOC",
    "C_OPERAND",
    "C_RFPORT",
    "C_SPM",
    "C_TAG",
    "DRAIN",
    "NEVER",
    "PIPE_OPS",
    "PRUNE_EVERY",
    "GreedyRun",
    "TimingStats",
    "check_ports",
    "event_graph",
    "simulate_timing",
]
