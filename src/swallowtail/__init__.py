"""swallowtail: butterfly-sparse attention networks and the dataflow accelerators that run them.

An end-to-end reproduction of "Multilayer Dataflow: Orchestrate Butterfly Sparsity to Accelerate Attention
Computation" (Wu et al., arXiv 2411.00734). See README.md for a tour and DESIGN notes in the docs.
"""

__version__ = "0.1.0"
