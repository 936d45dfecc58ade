"""The Program laid out on the arch: every static table the greedy engine reads -- the opcode tables, the NoC
routes and link numbering, the per-iteration schedule as lists, the per-pass store / load offsets and
pipelines, the register file's size -- computed once per simulation and never written afterwards. The
mutable machine state is `swallowtail.sim.timing.state`.
"""

from __future__ import annotations

import numpy as np

from swallowtail.arch.specs import DataflowArch
from swallowtail.compiler.geometry import SpmGeometry, route_links
from swallowtail.compiler.isa import (
    COEF_OPS,
    COMPUTE_FU,
    COMPUTE_OPS,
    COMPUTE_READS,
    OP_LD,
    OP_ST,
    OP_XFER,
    InstructionStream,
)
from swallowtail.compiler.program import Program
from swallowtail.errors import SpecError
from swallowtail.flops import ceil_div
from swallowtail.sim.engine import OVF_STRIDE

#: the opcodes of each pipeline: load, store, transfer, compute
PIPE_OPS = ((OP_LD,), (OP_ST,), (OP_XFER,), tuple(COMPUTE_OPS))
#: pipeline rows of the per-PE free-time array (`State.pf`), in PIPE_OPS order
PIPE_LD, PIPE_ST, PIPE_XF, PIPE_CP = range(4)


def engine_tables(arch: DataflowArch) -> tuple[int, int, int]:
    """(RF-port tables, NoC-link tables, SPM bank-group tables) the engine may need on `arch`, at most: two
    per PE (read and write ports), one per directed link of every hop distance, one per bank group."""
    rows, cols = arch.array.rows, arch.array.cols
    links = sum(2 * rows * max(0, cols - h) + 2 * cols * max(0, rows - h) for h in arch.noc.hops)
    return 2 * rows * cols, links, SpmGeometry.of(arch).groups


def check_engine_fits(arch: DataflowArch) -> None:
    """SpecError, before any work, when `arch` needs more reservation tables than the engine holds (it numbers
    them below `OVF_STRIDE`; a larger array also needs PE x PE route tables): a clean error naming the array
    (or the SPM width that makes the bank groups), not an assertion or a MemoryError minutes later."""
    ports, links, groups = engine_tables(arch)
    if ports + links + groups < OVF_STRIDE:
        return
    what = (
        f"{ports} RF-port, {links} NoC-link and {groups} SPM bank-group reservation tables, at most "
        f"{OVF_STRIDE - 1} in the cycle-level simulator (the roofline backend takes any size)"
    )
    if groups > ports + links:
        raise SpecError("spm.bytes_per_cycle", arch.spm.bytes_per_cycle, f"fewer bank groups: {what}")
    raise SpecError("array", f"{arch.array.rows} x {arch.array.cols}", f"a smaller array: {what}")


class Machine:
    """Static tables of `program` on `arch` (see the module docstring); read-only once built."""

    def __init__(self, program: Program, arch: DataflowArch) -> None:
        check_engine_fits(arch)
        self.program = program
        self.arch = arch
        self.plan = program.plan
        self.sch = program.schedule
        self.n_it = len(self.sch)
        self.coords = program.pe_coords
        self.n_pe = len(self.coords)
        geo = SpmGeometry.of(arch)
        self.groups = geo.groups
        self.occ_bank = geo.occupancy
        self.spm_lat = program.model.spm_latency_cycles
        self.read_ports = arch.pe.register_file.read_ports
        self.write_ports = arch.pe.register_file.write_ports
        self.ser = max(
            1, ceil_div(geo.vec_bytes, arch.noc.link_bytes_per_cycle)
        )  # cycles a vector holds a link
        self.hop = arch.noc.hop_latency
        self.cset = self.plan.coef_set_regs
        self.n_sets = self.plan.coef_sets
        self.n_regs = self.n_sets * self.cset + max(
            s * t.data_regs for s, t in zip(self.plan.tag_slots, program.templates, strict=True)
        )
        self._opcode_tables(arch)
        self._routes(arch)
        self._per_iteration()
        self._per_pass()

    def _opcode_tables(self, arch: DataflowArch) -> None:
        """Per opcode: registers read, latency, FU index, initiation interval, reads a coefficient."""
        self.fu_names = sorted({COMPUTE_FU[o] for o in COMPUTE_OPS})
        fu_index = {name: k for k, name in enumerate(self.fu_names)}
        self.n_fu = len(self.fu_names)
        n_ops = max(COMPUTE_OPS) + 1
        self.op_nr = np.zeros(n_ops, dtype=np.int64)
        self.op_lat = self.op_nr.copy()
        self.op_fu = self.op_nr.copy()
        self.op_ii = self.op_nr.copy()
        self.op_coef = np.zeros(n_ops, dtype=bool)
        for o in COMPUTE_OPS:
            fu = arch.pe.fus[COMPUTE_FU[o]]
            self.op_nr[o] = COMPUTE_READS[o]
            self.op_lat[o] = fu.latency
            self.op_fu[o] = fu_index[COMPUTE_FU[o]]
            self.op_ii[o] = fu.initiation_interval
            self.op_coef[o] = o in COEF_OPS

    def _routes(self, arch: DataflowArch) -> None:
        """Every transfer's route, so that the link table is complete: `routes_flat[span_lo[e, peer] :
        span_hi[e, peer]]` are the links (numbered in first-use order) from PE e to PE peer."""
        link_index: dict[tuple, int] = {}
        coords, n_pe = self.coords, self.n_pe

        def route_ids(e_src: int, e_dst: int) -> tuple[int, ...]:
            (x0, y0), (x1, y1) = coords[e_src], coords[e_dst]
            ids = []
            for lk in route_links(x0, y0, x1, y1, arch.noc.hops):
                if lk not in link_index:
                    link_index[lk] = len(link_index)
                ids.append(link_index[lk])
            return tuple(ids)

        self.routes_flat: list[int] = []
        route_span: dict[tuple[int, int], tuple[int, int]] = {}
        for t in self.program.templates:
            for e in range(n_pe):
                for i in np.nonzero(t.op[e] == OP_XFER)[0]:
                    peer = int(t.peer[e, i])
                    if (e, peer) not in route_span:
                        r = route_ids(e, peer)
                        route_span[(e, peer)] = (
                            len(self.routes_flat),
                            len(self.routes_flat) + len(r),
                        )
                        self.routes_flat.extend(r)
        self.routes_np = np.array(self.routes_flat, dtype=np.int64)
        self.span_lo = np.zeros((n_pe, n_pe), dtype=np.int64)
        self.span_hi = np.zeros((n_pe, n_pe), dtype=np.int64)
        for (e, peer), (r0, r1) in route_span.items():
            self.span_lo[e, peer], self.span_hi[e, peer] = r0, r1
        self.n_links = len(link_index)

    def _per_iteration(self) -> None:
        """The schedule as Python lists (read per iteration) and the instance tables."""
        sch, program = self.sch, self.program
        self.it_pass = sch.pass_.tolist()
        self.it_batch = sch.batch.tolist()
        self.it_seq = sch.seq.tolist()
        self.it_base = sch.base.tolist()
        self.it_lanes = sch.lanes.tolist()
        self.it_inst = sch.instance.tolist()
        self.pf_u = sch.pf_u.tolist()
        self.pf_v0 = sch.pf_v0.tolist()
        self.pf_v1 = sch.pf_v1.tolist()
        self.slots_of = self.plan.tag_slots
        self.inst_cb = program.instance_coef_base.tolist()
        self.inst_pass = program.instance_pass.tolist()
        self.inst_set = program.instance_set.tolist()
        # the most coefficient loads one iteration appends to a load step on one PE
        self.max_pref = int(
            np.where(sch.pf_u >= 0, np.clip(sch.pf_v1 - sch.pf_v0, 0, None), 0).sum(axis=1).max(initial=0)
        )

    def _per_pass(self) -> None:
        """Per pass: coefficient slots, whether it transfers, store / load slot offsets, pipelines in use."""
        n_pe, templates = self.n_pe, self.program.templates
        # (PEs, coefficient registers) -> SPM slot offset of the coefficient
        self.coef_slot = [
            np.ascontiguousarray(t.coef_slot, dtype=np.int64).reshape(n_pe, -1) for t in templates
        ]
        self.uses_xfer = [t.plan.cross_stages > 0 for t in templates]
        self.st_offsets = [_slot_offsets(t, n_pe, OP_ST) for t in templates]
        self.ld_offsets = [_slot_offsets(t, n_pe, OP_LD) for t in templates]
        # the (pipeline, PE) pairs that issue in its iterations (load, store, transfer, compute)
        self.has_pipe = [
            np.array(
                [[bool(np.isin(t.op[e], ops).any()) for e in range(n_pe)] for ops in PIPE_OPS],
                dtype=bool,
            )
            for t in templates
        ]
        # resident coefficient sets (more than two): numbered pass-major, instances in order (first use)
        self.set_base_of_pass: dict[int, int] = {}
        if self.n_sets > 2:
            off = 0
            for p, t in enumerate(templates):
                self.set_base_of_pass[p] = off
                off += t.plan.n_instances

    def it_key(self, i: int) -> tuple:
        """What makes iteration i structurally what it is (pass, lanes, coefficient loads relative to it)."""
        u = self.it_seq[i]
        pf_u, pf_v0, pf_v1 = self.pf_u[i], self.pf_v0[i], self.pf_v1[i]
        pfk = tuple((pf_u[q] - u if pf_u[q] >= 0 else None, pf_v0[q], pf_v1[q]) for q in range(2))
        return (self.it_pass[i], self.it_lanes[i], pfk, i == 0)


def _slot_offsets(t: InstructionStream, n_pe: int, opcode: int) -> np.ndarray:
    """(PEs, instructions of `opcode` per PE): the SPM slot offset of each, in program order."""
    return np.array(
        [[int(t.slot[e, i]) for i in range(t.n_instr) if t.op[e, i] == opcode] for e in range(n_pe)],
        dtype=np.int64,
    )
