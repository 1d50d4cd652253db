"""Argument checks shared by the meta-learning functions: one-line errors that name the fix."""

import math

import torch


def check_step_size(name: str, value) -> float:
    """A finite, non-negative step size as a float."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_steps(name: str, value) -> int:
    """A non-negative integer number of steps."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def check_params(params) -> dict:
    """A non-empty dict of floating-point tensors."""
    if not isinstance(params, dict) or not params:
        raise ValueError("params must be a non-empty dict of tensors (e.g. from metarl_lite.nn.init_mlp)")
    for name, value in params.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ValueError(f"params[{name!r}] must be a floating-point tensor, got {type(value).__name__}")
    return params


def check_finite(what: str, value: torch.Tensor) -> torch.Tensor:
    """Raise instead of letting a NaN or Inf propagate silently."""
    if not torch.isfinite(value).all():
        raise FloatingPointError(f"{what} is not finite ({value.detach().flatten()[:4].tolist()}); lower the step size")
    return value


def scalar_loss(loss_fn):
    """loss_fn, checked to return a scalar (also inside torch.func.grad, whose own error is cryptic)."""

    def checked(params, batch):
        loss = loss_fn(params, batch)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn must return a scalar, got shape {shape}")
        return loss

    return checked
