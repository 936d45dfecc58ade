"""Residency mapping: what is fused, what stays on chip, where the tensors go (the mapping decision that
differs between the two dataflows; the machine is the same).

- multilayer: token-wise ops (butterfly / FFT over the hidden axis, LayerNorm, elementwise, dense linear)
  stream token chunks, so their intermediates are chunk-sized and stay on chip; epilogues (bias, GELU, scale,
  residual adds) run on the producer's registers (`fused`). A tensor that crosses a *layout barrier* -- the
  sequence-axis FFT (all tokens of a column) or the attention core (all keys / values of a head) -- must be
  held whole: it stays on chip when the live set at that barrier fits `SPM_RESIDENT_FRACTION` of the SPM
  (largest tensors spill first), else it spills to DRAM. The attention core (scores, scale, softmax, values)
  is fused per head: a block of score rows lives in the SPM, S never goes to DRAM.
- single-layer (the block-oriented baseline): every butterfly stage through the SPM (the kernel compiler's
  single-layer mapping) and every op's output back to DRAM; only a bias add is fused into its producer.
- residency "dram": nothing fused, every op's output to DRAM (each op DRAM to DRAM, as its own Program would
  run standalone; what `cycle_level_workload` is compared with).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swallowtail.arch.specs import DataflowArch
from swallowtail.errors import SpecError, is_real
from swallowtail.workload import FFT, GEMM, Elementwise, Op, Workload

#: assumption: fraction of the SPM the compiler may give to whole tensors held across a layout barrier
#: (the rest: streaming buffers, coefficient tables); the default of the dataflow backends' option
#: `spm_resident_fraction`
SPM_RESIDENT_FRACTION = 0.5


def check_resident_fraction(value: float, field: str = "spm_resident_fraction") -> float:
    """`value` if it is a share of the SPM in (0, 1], else a SpecError naming `field`."""
    if not (is_real(value) and 0 < value <= 1):
        raise SpecError(field, value, "a fraction of the SPM in (0, 1]")
    return float(value)


#: residency policies: "plan" (the dataflow's: fusion and on-chip tensors as below) | "dram" (nothing fused,
#: every op's output to DRAM: each op runs DRAM to DRAM, as its own Program would standalone)
RESIDENCIES = ("plan", "dram")


def is_seq_fft(op: Op) -> bool:
    """The sequence-axis FFT of Fourier mixing (FNet keeps its real part: `real_output`)."""
    return isinstance(op, FFT) and op.real_output


def is_attention(op: Op) -> bool:
    """A GEMM of two activations (scores or values of attention)."""
    return isinstance(op, GEMM) and not op.b_is_weight


def tensor_bytes(op: Op) -> int:
    """Bytes of an op's output tensor."""
    return op.output_elems * op.elem_bytes


@dataclass
class Plan:
    """Mapping decisions for a workload: what is fused, what stays on chip, how ops group."""

    dataflow: str
    fused: dict[str, bool]  # op -> runs on its producer's registers (an epilogue)
    spilled: dict[str, bool]  # op output -> goes to DRAM
    core: dict[str, int]  # op -> attention core id (ops of one core are fused)
    notes: list[str] = field(default_factory=list)


def plan_residency(
    w: Workload,
    arch: DataflowArch,
    dataflow: str,
    residency: str = "plan",
    resident_fraction: float = SPM_RESIDENT_FRACTION,
) -> Plan:
    """The residency Plan of `w` on `arch` with `dataflow`; `residency`: one of RESIDENCIES;
    `resident_fraction`: the share of the SPM whole tensors may hold across a layout barrier (multilayer)."""
    check_resident_fraction(resident_fraction)
    ops = list(w.ops)
    if residency == "dram":
        return Plan(
            dataflow,
            {op.name: False for op in ops},
            {op.name: True for op in ops},
            {},
            ["residency 'dram': nothing fused, every op's output goes to DRAM (each op DRAM to DRAM)"],
        )
    consumers: dict[str, list[int]] = {op.name: [] for op in ops}
    for i, op in enumerate(ops):
        for d in op.deps:
            consumers[d].append(i)
    fused = _fusion(ops, consumers, dataflow)
    core = _attention_cores(ops, dataflow)
    if dataflow == "single-layer":
        last = ops[-1].name
        spilled: dict[str, bool] = {}
        for op in ops:
            nxt = [ops[c] for c in consumers[op.name]]
            spilled[op.name] = not (len(nxt) == 1 and fused[nxt[0].name]) or op.name == last
        notes = ["single-layer: every op's output goes to DRAM (bias adds fused into their producer)"]
        return Plan(dataflow, fused, spilled, core, notes)
    return _multilayer_plan(ops, consumers, fused, core, arch, dataflow, resident_fraction)


def _fusion(ops: list[Op], consumers: dict[str, list[int]], dataflow: str) -> dict[str, bool]:
    """Epilogues run on their producer's registers: single-layer fuses only a bias add; multilayer every
    elementwise op that directly follows its only producer (unless a LayerNorm or softmax)."""
    fused: dict[str, bool] = {}
    for i, op in enumerate(ops):
        prev = ops[i - 1] if i else None
        direct = prev is not None and op.deps[:1] == (prev.name,) and len(consumers[prev.name]) == 1
        if dataflow == "single-layer":
            fused[op.name] = bool(
                direct and isinstance(op, Elementwise) and op.op == "add" and op.weight and op.operands == 1
            )
        else:
            fused[op.name] = bool(
                direct
                and isinstance(op, Elementwise)
                and not isinstance(prev, type(None))
                and prev.kind != "layernorm"
                and prev.kind != "softmax"
            )
    return fused


def _attention_cores(ops: list[Op], dataflow: str) -> dict[str, int]:
    """Attention cores (multilayer only): scores GEMM .. values GEMM, the ops between them in order."""
    core: dict[str, int] = {}
    cid = 0
    i = 0
    while i < len(ops):
        if is_attention(ops[i]):
            j = i + 1
            while j < len(ops) and not is_attention(ops[j]):
                j += 1
            if j < len(ops) and dataflow == "multilayer":
                for k in range(i, j + 1):
                    core[ops[k].name] = cid
                cid += 1
            i = j + 1
        else:
            i += 1
    return core


def _multilayer_plan(
    ops: list[Op],
    consumers: dict[str, list[int]],
    fused: dict[str, bool],
    core: dict[str, int],
    arch: DataflowArch,
    dataflow: str,
    resident_fraction: float,
) -> Plan:
    """Multilayer: what crosses a layout barrier stays on chip within the budget (largest spill first); the
    attention cores that do not fit beside it are unfused."""
    budget = resident_fraction * arch.spm.size_bytes
    barrier = [is_seq_fft(op) or (op.name in core) for op in ops]

    def crosses(i: int) -> bool:
        op = ops[i]
        cons = consumers[op.name]
        if not cons:
            return False
        if op.name in core and all(ops[c].name in core and core[ops[c].name] == core[op.name] for c in cons):
            return False
        j = max(cons)
        return barrier[i] or any(barrier[k] for k in range(i + 1, j + 1))

    crossing = [i for i in range(len(ops)) if crosses(i)]
    last = ops[-1].name
    spilled = {op.name: op.name == last for op in ops}
    notes: list[str] = []
    _spill_at_barriers(ops, consumers, barrier, crossing, spilled, budget)
    _fit_attention_cores(ops, consumers, crossing, spilled, core, arch, notes)
    n_sp = [op.name for op in ops[:-1] if spilled[op.name]]
    notes.append(
        f"multilayer: token-wise ops stream token chunks on chip, epilogues fused; tensors held across a "
        f"layout barrier (sequence FFT, attention core) stay on chip within {budget:.0f} B "
        f"({resident_fraction:.0%} of the SPM); {len(n_sp)} of {len(ops) - 1} intermediate op outputs "
        "spill to DRAM"
    )
    return Plan(dataflow, fused, spilled, core, notes)


def _spill_at_barriers(
    ops: list[Op],
    consumers: dict[str, list[int]],
    barrier: list[bool],
    crossing: list[int],
    spilled: dict[str, bool],
    budget: float,
) -> None:
    """At the start of each barrier run and the op after it, spill the largest live tensors until the rest
    fits `budget` (updates `spilled`)."""
    points = sorted(
        {i for i in range(len(ops)) if barrier[i] and (i == 0 or not barrier[i - 1])}
        | {i + 1 for i in range(len(ops)) if barrier[i] and (i + 1 == len(ops) or not barrier[i + 1])}
    )
    for b in points:
        live = [i for i in crossing if i < b <= max(consumers[ops[i].name])]
        keep = sorted((i for i in live if not spilled[ops[i].name]), key=lambda i: -tensor_bytes(ops[i]))
        total = sum(tensor_bytes(ops[i]) for i in keep)
        for i in keep:
            if total <= budget:
                break
            spilled[ops[i].name] = True
            total -= tensor_bytes(ops[i])


def _fit_attention_cores(
    ops: list[Op],
    consumers: dict[str, list[int]],
    crossing: list[int],
    spilled: dict[str, bool],
    core: dict[str, int],
    arch: DataflowArch,
    notes: list[str],
) -> None:
    """Attention core feasibility: per head K and V resident + a block of score rows, in the SPM left beside
    the whole tensors held across the core's barrier; a core that does not fit is unfused and its outputs
    spill (updates `core`, `spilled`, `notes`)."""
    index = {op.name: i for i, op in enumerate(ops)}
    for name, c in list(core.items()):
        if name not in core:
            continue
        i0 = index[name]
        op = ops[i0]
        if isinstance(op, GEMM) and op.k < op.n and op.m == op.n:  # scores: (T x hs) @ (hs x T)
            held = sum(
                tensor_bytes(ops[i])
                for i in crossing
                if i < i0 <= max(consumers[ops[i].name]) and not spilled[ops[i].name]
            )
            kv = 2 * op.n * op.k * op.elem_bytes
            need = kv + arch.pe.simd_lanes * op.n * op.elem_bytes
            if need > arch.spm.size_bytes - held:
                for n2, c2 in list(core.items()):
                    if c2 == c:
                        del core[n2]
                        spilled[n2] = True
                notes.append(
                    f"{name}: K and V of a head + a score block ({need} B) do not fit the SPM beside "
                    f"{held} B held: attention core not fused, scores spill"
                )
