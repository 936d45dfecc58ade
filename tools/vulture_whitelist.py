"""Names that vulture (`make lint`) cannot see used: each is read by name at run time, or kept on purpose.

vulture reads this file (pyproject.toml `[tool.vulture]`), nobody runs it: every line below is an expression
that "uses" a name, with the reason it is not dead. A name whose only reason was "nothing calls it" does not
belong here: it goes.
"""

# ruff: noqa: B018 - each line is a bare expression on purpose (a use, for vulture)

from swallowtail.backends.dataflow import make_multilayer, make_single_layer
from swallowtail.backends.roofline import make_roofline
from swallowtail.energy.tables import ActionEnergies
from swallowtail.experiments.records import GpuHeadlineRow, RatioSummary
from swallowtail.nn.config import CLS_ID
from swallowtail.result import Result
from swallowtail.tasks.listops import OP_SM
from swallowtail.train.loop import TrainResult

# ---- imported by a "module:function" string (swallowtail.backends' lazy registry) -------------------------
make_multilayer  # "swallowtail.backends.dataflow:make_multilayer"
make_single_layer  # "swallowtail.backends.dataflow:make_single_layer"
make_roofline  # "swallowtail.backends.roofline:make_roofline"

# ---- dataclass fields read by name (getattr over a table of names, or dataclasses.fields in to_dict) -----
ActionEnergies.add_j  # ActionEnergies.cost: ACTION_FIELDS["add_lane_ops"]
ActionEnergies.special_j  # ACTION_FIELDS["special_lane_ops"]
ActionEnergies.instruction_j  # ACTION_FIELDS["instructions"]
ActionEnergies.rf_write_j_per_byte  # ACTION_FIELDS["rf_write_bytes"]
ActionEnergies.noc_j_per_byte_hop  # ACTION_FIELDS["noc_byte_hops"]
ActionEnergies.spm_write_j_per_byte  # ACTION_FIELDS["spm_write_bytes"]
RatioSummary.argmin  # results.json: RatioSummary.to_dict writes every field
GpuHeadlineRow.gpu_hybrid  # GpuHeadlineRow.values: getattr over GPU_COLUMNS
GpuHeadlineRow.gpu_eager  # GPU_COLUMNS
GpuHeadlineRow.gpu_dense  # GPU_COLUMNS
Result.schema_version  # every Result's JSON (Result.to_dict: asdict)
TrainResult.train_acc  # result.json of a training run: TrainResult.to_dict writes every field
TrainResult.train_time_s  # result.json of a training run

# ---- measurements a result hands its caller (no reader inside the package) ---------------------------------

# ---- named constants kept for what they document ----------------------------------------------------------
CLS_ID  # the token convention nn.config documents: the classification token at position 0 (pooling "cls")
OP_SM  # LRA ListOps' fourth operator (SUM_MOD): op codes are positions in OPERATORS

# ---- in a file another session is editing (issue 15, part 5: left for it) ---------------------------------
