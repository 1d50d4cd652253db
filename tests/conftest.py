"""Shared fixtures for the meta-learning tests: seeded RNGs, one torch thread, small regression helpers."""

import pytest
import torch

import metarl_lite
from metarl_lite.nn import mlp


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same RNG state, on one torch thread (fast and reproducible)."""
    metarl_lite.seed_everything(0)


def _mse(activation):
    def loss(params, batch):
        x, y = batch
        return ((mlp(params, x, activation) - y) ** 2).mean()

    return loss


@pytest.fixture
def mse():
    """loss_fn(params, (x, y)): mean squared error of the ReLU MLP (the library's default activation)."""
    return _mse("relu")


@pytest.fixture
def smooth_mse():
    """The same loss with tanh: smooth, for finite differences and Taylor expansions."""
    return _mse("tanh")


@pytest.fixture
def make_batch():
    """make_batch(n, d_in, d_out=1, seed=...) -> (x [n, d_in], y [n, d_out]), standard normal, float64."""

    def make(n, d_in, d_out=1, *, seed):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(n, d_in, generator=gen, dtype=torch.float64)
        return x, torch.randn(n, d_out, generator=gen, dtype=torch.float64)

    return make


@pytest.fixture
def grad_dict():
    """grad_dict(scalar, params) -> {name: d scalar / d params[name]} (plain autograd)."""

    def gradient(scalar, params):
        return dict(zip(params, torch.autograd.grad(scalar, list(params.values()))))

    return gradient


@pytest.fixture
def grad_at(grad_dict):
    """grad_at(loss_fn, params, batch) -> grad L(params; batch) as a dict, at a constant point."""

    def gradient(loss_fn, params, batch):
        point = {k: v.detach().requires_grad_() for k, v in params.items()}
        return grad_dict(loss_fn(point, batch), point)

    return gradient


@pytest.fixture
def sgd_path(grad_at):
    """sgd_path(loss_fn, params, batches, lr) -> W after one plain SGD step per batch, as constants."""

    def path(loss_fn, params, batches, lr):
        w = {k: v.detach() for k, v in params.items()}
        for batch in batches:
            w = {k: w[k] - lr * g for k, g in grad_at(loss_fn, w, batch).items()}
        return w

    return path
