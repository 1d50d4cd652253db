"""Discounted returns-to-go and generalized advantage estimation on padded episode batches.

Every tensor here is ``[episodes, T]``: row n is one episode, column t its step t. Episodes that end
early are padded to length T, and ``masks`` marks the real steps: 1 while the episode runs, 0 from
its termination on (so each row reads 1 ... 1 0 ... 0). Whatever sits in the padded steps (rewards,
values) is ignored, and every output is 0 there. An episode that is still running at step T - 1 is
cut by the horizon and treated as ending there (no bootstrap value after it), as in MAML-RL's
fixed-horizon tasks.
"""

import torch


def _unit_interval(name: str, value) -> float:
    """A number in [0, 1], such as gamma or lambda."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def _shape(x) -> str:
    return str(list(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


def check_batch(masks: torch.Tensor, **tensors) -> torch.Tensor:
    """Check that ``masks`` and every named tensor share one shape [episodes, T] and that each row
    of ``masks`` reads 1 ... 1 0 ... 0; return the masks in the floating dtype of the first tensor.

    ``None`` entries are skipped (an optional baseline). The error lists every tensor's shape.
    """
    named = {**{k: v for k, v in tensors.items() if v is not None}, "masks": masks}
    if not (
        isinstance(masks, torch.Tensor)
        and masks.dim() == 2
        and all(isinstance(v, torch.Tensor) and v.shape == masks.shape for v in named.values())
    ):
        got = ", ".join(f"{k} {_shape(v)}" for k, v in named.items())
        raise ValueError(f"{', '.join(named)} must be tensors of one shape [episodes, T]; got {got}")
    if masks.numel() == 0:
        raise ValueError(f"need at least one episode of at least one step; got shape {_shape(masks)}")
    if not ((masks == 0) | (masks == 1)).all() or (masks[:, 1:] > masks[:, :-1]).any():
        raise ValueError("masks must hold 1 for the steps of an episode and 0 after it ends (rows like 1 1 1 0 0)")
    dtype = next(iter(named.values())).dtype
    return masks.to(dtype if dtype.is_floating_point else torch.get_default_dtype())


def masked(x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """x at the real steps and exactly 0 at padded ones (even where x holds NaN or Inf there)."""
    return torch.where(masks > 0, x, torch.zeros((), dtype=x.dtype))


def normalized(x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(x - mean) / (std + 1e-8) with mean and (population) std over the real steps; 0 at padded ones."""
    count = masks.sum()
    mean = masked(x, masks).sum() / count
    std = (masked((x - mean) ** 2, masks).sum() / count).sqrt()
    return masked((x - mean) / (std + 1e-8), masks)


def _backward_sum(x: torch.Tensor, factor: float) -> torch.Tensor:
    """y_t = x_t + factor * y_{t+1} along dim 1, with y_T = 0: y_t = sum_{l >= 0} factor^l x_{t+l}."""
    steps = x.unbind(1)
    y = torch.zeros_like(steps[-1])
    out = []
    for x_t in reversed(steps):
        y = x_t + factor * y
        out.append(y)
    return torch.stack(out[::-1], dim=1)


def discounted_returns(rewards: torch.Tensor, masks: torch.Tensor, *, gamma: float) -> torch.Tensor:
    """Returns-to-go G_t = sum_{t' >= t} gamma^(t' - t) r_t' over the real steps, shape [episodes, T].

    Computed backward, G_t = r_t + gamma G_{t+1} with G_T = 0, after setting padded rewards to 0;
    so G_t is 0 at padded steps.
    """
    masks = check_batch(masks, rewards=rewards)
    gamma = _unit_interval("gamma", gamma)
    return _backward_sum(masked(rewards, masks), gamma)


def gae(rewards: torch.Tensor, values: torch.Tensor, masks: torch.Tensor, *, gamma: float, lam: float) -> torch.Tensor:
    """Generalized advantage estimates (Schulman et al. 2016) A_t, shape [episodes, T].

    With V_t the value estimates (``values``, taken as 0 at padded steps and after step T - 1),

        delta_t = r_t + gamma V_{t+1} - V_t,        A_t = sum_{l >= 0} (gamma lam)^l delta_{t+l},

    computed backward as A_t = delta_t + gamma lam A_{t+1} over the real steps (A_t = 0 at padded
    ones). lam = 1 gives A_t = G_t - V_t, the returns-to-go minus the values (MAML-RL's setting);
    lam = 0 gives the one-step A_t = delta_t.
    """
    masks = check_batch(masks, rewards=rewards, values=values)
    gamma = _unit_interval("gamma", gamma)
    lam = _unit_interval("lam", lam)
    rewards, values = masked(rewards, masks), masked(values, masks)
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)
    return _backward_sum(masked(rewards + gamma * next_values - values, masks), gamma * lam)
