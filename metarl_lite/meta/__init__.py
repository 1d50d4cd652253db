"""Task-agnostic meta-learning on functional parameters (dicts of tensors)."""

from .maml import adapt, maml_objective
from .platipus import Platipus
from .reptile import reptile_step

__all__ = ["adapt", "maml_objective", "reptile_step", "Platipus"]
