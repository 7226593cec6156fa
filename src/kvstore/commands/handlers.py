"""The hot handlers of the build in use: :mod:`kvstore.commands.hot` compiled with Cython, or
itself (``kvstore.build.choose``, here and nowhere else). The modules that register those
commands take the handlers from here, so the one command table holds one build's handlers."""

from typing import TYPE_CHECKING

from kvstore import build
from kvstore.commands import hot as _pure_hot

if TYPE_CHECKING:  # the two builds' functions have one interface: the pure module's
    from kvstore.commands import hot
else:
    hot = build.choose(_pure_hot)

__all__ = ["hot"]
