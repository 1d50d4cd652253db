"""The action check every vector and single environment of ``metarl_lite.tasks`` shares."""

import numpy as np


def check_actions(actions, shape: tuple, first_slot: int = 0) -> np.ndarray:
    """Actions as a float64 array of ``shape``, finite; a one-line error (naming the slot, counted from
    ``first_slot``) otherwise."""
    try:
        actions = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"actions must be numbers of shape {shape}, got {type(actions).__name__}") from None
    if actions.shape != shape:
        raise ValueError(f"actions must have shape {shape}, got {actions.shape}")
    if not np.isfinite(actions).all():
        finite = np.isfinite(actions).reshape(-1, shape[-1]).all(axis=1)
        slot = int(np.flatnonzero(~finite)[0])
        where = "" if actions.ndim == 1 else f" in slot {first_slot + slot}"
        raise ValueError(f"actions must be finite, got {actions.reshape(-1, shape[-1])[slot].tolist()}{where}")
    return actions
