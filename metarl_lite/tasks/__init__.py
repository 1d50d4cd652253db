"""Task distributions: each has ``sample_tasks(n, rng)``; a regression task has ``sample(k, rng)``."""

from . import navigation  # registers metarl_lite/Navigation2D-v0 with gymnasium
from .ambiguous import Ambiguous
from .linear import LinearRegression
from .sinusoid import Sinusoid

__all__ = ["Sinusoid", "LinearRegression", "Ambiguous", "navigation"]
