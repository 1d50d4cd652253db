"""Sinusoid regression (Finn et al. 2017, Sec. 5.1): y = A sin(x - phase).

A ~ U[0.1, 5], phase ~ U[0, pi], x ~ U[-5, 5]. Few-shot: K points of one task to adapt on.
"""

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class SinusoidTask:
    amplitude: float
    phase: float
    x_range: tuple = (-5.0, 5.0)

    def __call__(self, x):
        """The true function, for a tensor or array x."""
        sin = torch.sin if isinstance(x, torch.Tensor) else np.sin
        return self.amplitude * sin(x - self.phase)

    def sample(self, k: int, rng: np.random.Generator, dtype=torch.float32):
        """k points (x, y), each of shape [k, 1], with x ~ U[x_range]."""
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k (points per task) must be a positive integer, got {k!r}")
        x = rng.uniform(*self.x_range, size=(k, 1))
        return torch.as_tensor(x, dtype=dtype), torch.as_tensor(self(x), dtype=dtype)


@dataclass(frozen=True)
class Sinusoid:
    """The task distribution p(T) of sinusoids."""

    amplitude_range: tuple = (0.1, 5.0)
    phase_range: tuple = (0.0, np.pi)
    x_range: tuple = (-5.0, 5.0)

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list:
        amplitudes = rng.uniform(*self.amplitude_range, size=n)
        phases = rng.uniform(*self.phase_range, size=n)
        return [SinusoidTask(float(a), float(p), self.x_range) for a, p in zip(amplitudes, phases)]
