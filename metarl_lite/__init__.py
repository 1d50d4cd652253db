"""metarl-lite: gradient-based meta-learning and meta-RL, derived, checked and runnable."""

import random

import numpy as np
import torch

__version__ = "0.1.0"


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch, pin torch to one thread, and return a NumPy Generator.

    One thread is the fast setting for the small networks of this course (two threads on two
    cores are slower), and it makes results reproducible bit for bit on one machine.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    return np.random.default_rng(seed)
