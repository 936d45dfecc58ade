"""swallowtail.importer: PyTorch models -> workloads (`from_torch`), and the rules for structured layers.

    from swallowtail.importer import from_torch, workload_rule

    with torch.device("meta"):              # no weights materialised
        model = MyModel()
    workload = from_torch(model, torch.ones(1, 1024, dtype=torch.long))

It sits above `workload` and `nn` (it imports both, and torch): `swallowtail.workload` stays torch-free.
The graph comes from `torch.export` (`trace`); leaves with rules (`rules`) and the table of ATen ops
(`aten`) turn it into the typed ops of `swallowtail.workload.ops`; `convert` puts the Workload together.
"""

from swallowtail.importer.convert import from_torch
from swallowtail.importer.rules import LeafCall, Rule, workload_rule

__all__ = ["LeafCall", "Rule", "from_torch", "workload_rule"]
