"""Checkpoints: written atomically, loaded without arbitrary pickle (``weights_only=True``).

A checkpoint is a dict of tensors and plain Python values (numbers, strings, lists, dicts) with a
format marker. Writing goes to a temporary file in the same folder, is flushed to disk, then
renamed over the old file, so a run killed mid-write keeps its previous checkpoint intact.
"""

import os
import pickle
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

FORMAT = "metarl-lite/checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, corrupt, truncated, foreign or incompatible."""


def save(path, state: dict) -> None:
    """Atomically write ``state`` (tensors and plain values) to ``path``."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **state}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path) -> dict:
    """Load a checkpoint written by :func:`save`, with a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train first (metarl-lite train ... --out {path.parent})")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols; we raise below
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, weights_only=True, map_location="cpu")
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{path} is corrupt or truncated ({type(err).__name__}); delete it to retrain, or restore a copy"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a metarl-lite checkpoint; point to a run folder made by metarl-lite train")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {state.get('version')}, this metarl-lite reads {VERSION}")
    return state


def numpy_rng_state(rng: np.random.Generator) -> dict:
    """The state of a NumPy Generator as plain ints and strings (weights_only loads those)."""
    return rng.bit_generator.state


def restore_numpy_rng(state: dict) -> np.random.Generator:
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)
