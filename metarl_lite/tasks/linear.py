"""Linear regression tasks, where the MAML objective and its gradient have a closed form.

A task is y = w . x + b + noise with x ~ N(0, I_d). The model is the MLP with sizes [d, 1], i.e.
the linear map theta = (W, b); with augmented inputs X~ = [X, 1] and the mean squared error

    L(theta) = (1/n) ||X~ theta - y||^2,  grad L = (2/n) X~^T (X~ theta - y),  H = (2/n) X~^T X~,

one inner step is affine in theta: phi = (I - alpha H) theta + alpha (2/n) X~^T y. So k steps give
phi_k = M^k theta + c_k with M = I - alpha H, and grad_theta L_te(phi_k) = (M^k)^T grad L_te(phi_k)
(H is constant, so every factor I - alpha H_j equals M).
"""

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class LinearTask:
    weight: tuple
    bias: float
    noise_std: float = 0.0

    def sample(self, k: int, rng: np.random.Generator, dtype=torch.float64):
        """k points (x [k, d], y [k, 1])."""
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k (points per task) must be a positive integer, got {k!r}")
        x = rng.standard_normal((k, len(self.weight)))
        y = x @ np.asarray(self.weight) + self.bias + self.noise_std * rng.standard_normal(k)
        return torch.as_tensor(x, dtype=dtype), torch.as_tensor(y[:, None], dtype=dtype)


@dataclass(frozen=True)
class LinearRegression:
    """Tasks with w ~ N(0, I_d), b ~ N(0, 1)."""

    dim: int = 3
    noise_std: float = 0.0

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list:
        return [
            LinearTask(tuple(rng.standard_normal(self.dim)), float(rng.standard_normal()), self.noise_std)
            for _ in range(n)
        ]


def _augment(x):
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)


def _vector(params) -> torch.Tensor:
    return torch.cat([params["0.weight"].detach().reshape(-1), params["0.bias"].detach().reshape(-1)])


def maml_closed_form(params: dict, tasks, *, lr: float, steps: int = 1):
    """(J, grad J) of the MAML objective in closed form, for params of the MLP [d, 1].

    J = mean_i L_te,i(phi_k,i); the gradient is returned as a dict shaped like params.
    """
    theta = _vector(params)
    objective, gradient = 0.0, torch.zeros_like(theta)
    for (x_tr, y_tr), (x_te, y_te) in tasks:
        xs, xq = _augment(x_tr), _augment(x_te)
        hessian = 2.0 / len(xs) * xs.T @ xs
        m = torch.eye(len(theta), dtype=theta.dtype) - lr * hessian
        phi = theta
        for _ in range(steps):
            phi = phi - lr * 2.0 / len(xs) * xs.T @ (xs @ phi - y_tr[:, 0])
        residual = xq @ phi - y_te[:, 0]
        objective += (residual**2).mean()
        gradient += torch.linalg.matrix_power(m, steps).T @ (2.0 / len(xq) * xq.T @ residual)
    n = len(tasks)
    d = params["0.weight"].shape[1]
    return objective / n, {"0.weight": (gradient[:d] / n).reshape(1, d), "0.bias": gradient[d:] / n}
