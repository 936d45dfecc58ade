"""swallowtail.energy: per-action energy tables (YAML, with sources), technology scaling, full-load power.

See `swallowtail.energy.tables` for the model and the sources, `tables/` for the shipped tables.
"""

from swallowtail.energy.tables import (
    COMPONENTS,
    MLX_FULL_LOAD_W,
    ActionEnergies,
    EnergyEstimate,
    EnergyTable,
    FullLoad,
    FullLoadReport,
    estimate,
    full_load_counts,
    full_load_power,
    full_load_report,
    list_energy_tables,
    load_energy_table,
    parse_energy_table,
)

__all__ = [
    "COMPONENTS",
    "MLX_FULL_LOAD_W",
    "ActionEnergies",
    "EnergyEstimate",
    "EnergyTable",
    "FullLoad",
    "FullLoadReport",
    "estimate",
    "full_load_counts",
    "full_load_power",
    "full_load_report",
    "list_energy_tables",
    "load_energy_table",
    "parse_energy_table",
]
