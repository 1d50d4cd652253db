"""Ambiguous regression: lines or sinusoids (after PLATIPUS' ambiguous-regression experiment,
Finn, Xu, Levine 2018).

Each task is a line y = a x + b (a, b ~ U[-3, 3]) or a sinusoid y = A sin(x - phase) (as in
``Sinusoid``), with probability 1/2 each, plus Gaussian noise. The support points come from a
narrow window, [-2, 2] by default (this course's choice), so a few of them can fit a line and
a sinusoid equally well: the posterior over functions is then multi-modal away from the window
and tight inside it. Query points cover [-5, 5].
"""

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class AmbiguousTask:
    kind: str  # "line" or "sine"
    a: float  # slope or amplitude
    b: float  # intercept or phase
    noise_std: float
    support_range: tuple
    query_range: tuple

    def __call__(self, x):
        if self.kind == "line":
            return self.a * x + self.b
        sin = torch.sin if isinstance(x, torch.Tensor) else np.sin
        return self.a * sin(x - self.b)

    def _points(self, k, rng, x_range, dtype):
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k (points per task) must be a positive integer, got {k!r}")
        x = rng.uniform(*x_range, size=(k, 1))
        y = self(x) + self.noise_std * rng.standard_normal((k, 1))
        return torch.as_tensor(x, dtype=dtype), torch.as_tensor(y, dtype=dtype)

    def sample(self, k: int, rng: np.random.Generator, dtype=torch.float32):
        """k support points (x, y) from the narrow support window."""
        return self._points(k, rng, self.support_range, dtype)

    def sample_query(self, k: int, rng: np.random.Generator, dtype=torch.float32):
        """k query points from the whole input range."""
        return self._points(k, rng, self.query_range, dtype)


@dataclass(frozen=True)
class Ambiguous:
    noise_std: float = 0.3
    support_range: tuple = (-2.0, 2.0)
    query_range: tuple = (-5.0, 5.0)

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list:
        tasks = []
        for _ in range(n):
            if rng.uniform() < 0.5:
                kind, a, b = "line", rng.uniform(-3, 3), rng.uniform(-3, 3)
            else:
                kind, a, b = "sine", rng.uniform(0.1, 5.0), rng.uniform(0, np.pi)
            tasks.append(AmbiguousTask(kind, float(a), float(b), self.noise_std, self.support_range, self.query_range))
        return tasks
