"""Old import path (kept for callers outside the compiler package): the ISA now lives in
`swallowtail.compiler.isa`, the butterfly / FFT micro-programs in `swallowtail.compiler.butterfly.kernels`.
"""

from __future__ import annotations

from swallowtail.compiler.butterfly.kernels import *  # noqa: F403
from swallowtail.compiler.butterfly.kernels import __all__ as _butterfly_all
from swallowtail.compiler.isa import *  # noqa: F403
from swallowtail.compiler.isa import __all__ as _isa_all

__all__ = [*_isa_all, *_butterfly_all]
