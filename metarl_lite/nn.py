"""Functional multilayer perceptrons: parameters are a plain dict of tensors.

Keys follow ``torch.nn.Sequential`` naming (``"0.weight"`` of shape [out, in], ``"0.bias"``,
``"2.weight"``, ...), so a dict can be loaded into ``nn.Sequential(Linear, act, Linear, ...)``.
``mlp`` is a pure function of (params, x): ``torch.func.grad`` and ``torch.func.vmap`` apply to it
directly, which is how the meta-learning code takes per-task gradients in one batched call.
"""

import math

import torch
import torch.nn.functional as F

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


def init_mlp(sizes, *, seed: int, dtype=torch.float32) -> dict:
    """Parameters of an MLP with layer widths ``sizes`` (e.g. [1, 40, 40, 1]).

    PyTorch's default ``nn.Linear`` scheme: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from a
    private generator so that ``seed`` alone fixes the result.
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes must list at least two positive integers, got {sizes!r}")
    gen = torch.Generator().manual_seed(seed)
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / math.sqrt(fan_in)
        for name, shape in (("weight", (fan_out, fan_in)), ("bias", (fan_out,))):
            value = (torch.rand(shape, generator=gen, dtype=dtype) * 2 - 1) * bound
            params[f"{2 * i}.{name}"] = value.requires_grad_()
    return params


def layer_names(params) -> list:
    """Sequential indices of the linear layers in ``params``; a clear error for any other key."""
    expected = []
    index = 0
    while f"{index}.weight" in params:
        expected += [f"{index}.weight", f"{index}.bias"]
        index += 2
    unknown = sorted(set(params) - set(expected))
    missing = sorted(set(expected) - set(params))
    if unknown or missing or not expected:
        raise ValueError(
            f"MLP params must be keyed '0.weight', '0.bias', '2.weight', ... (as init_mlp makes them); "
            f"unknown keys {unknown}, missing keys {missing}"
        )
    layers = list(range(0, index, 2))
    for prev, i in zip(layers[:-1], layers[1:]):
        if params[f"{i}.weight"].shape[-1] != params[f"{prev}.weight"].shape[-2]:
            raise ValueError(
                f"layer '{i}.weight' expects {params[f'{i}.weight'].shape[-1]} inputs but '{prev}.weight' gives "
                f"{params[f'{prev}.weight'].shape[-2]} outputs; params must chain [out, in] shapes"
            )
    return layers


def mlp(params: dict, x: torch.Tensor, activation: str = "relu") -> torch.Tensor:
    """f(x) = W_L act(... act(W_0 x + b_0) ...) + b_L for x of shape [..., in]."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    act = ACTIVATIONS[activation]
    layers = layer_names(params)
    if x.shape[-1] != params["0.weight"].shape[-1]:
        raise ValueError(
            f"input has {x.shape[-1]} features but layer '0.weight' expects "
            f"{params['0.weight'].shape[-1]} (x has shape {tuple(x.shape)}; use [..., features])"
        )
    for i in layers:
        x = F.linear(x, params[f"{i}.weight"], params[f"{i}.bias"])
        if i != layers[-1]:
            x = act(x)
    return x


def mse_loss(params: dict, batch, activation: str = "relu") -> torch.Tensor:
    """L(params; x, y) = mean (f(x) - y)^2, the regression loss of the course (y shaped like f(x))."""
    x, y = batch
    prediction = mlp(params, x, activation)
    if prediction.shape != y.shape:
        raise ValueError(
            f"y has shape {tuple(y.shape)} but the network predicts shape {tuple(prediction.shape)}; "
            f"pass y as [points, outputs] (e.g. y[:, None])"
        )
    return ((prediction - y) ** 2).mean()
