"""Old import path (kept for callers outside the compiler package): the step kinds and template fields now
live in `swallowtail.compiler.isa`, the butterfly pass templates in `swallowtail.compiler.butterfly.template`.
"""

from __future__ import annotations

from swallowtail.compiler.butterfly.template import *  # noqa: F403
from swallowtail.compiler.butterfly.template import __all__ as _butterfly_all
from swallowtail.compiler.isa import *  # noqa: F403
from swallowtail.compiler.isa import __all__ as _isa_all

__all__ = [*_isa_all, *_butterfly_all]
