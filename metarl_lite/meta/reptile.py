"""Reptile (Nichol, Achiam, Schulman 2018), batched version.

For each task i, run k SGD steps from theta, one per minibatch of the task, to reach W_i; then
move theta toward the adapted weights:

    theta <- theta + beta * mean_i (W_i - theta).

Reptile is first order (no gradient flows through W_i) and needs k > 1: with k = 1,
W_i - theta = -alpha g_i, so the update is plain joint training with step size alpha * beta.
"""

import torch
from torch.func import grad, vmap

from ._checks import check_params, check_step_size, scalar_loss
from .maml import _stack


def _check_reptile_tasks(tasks) -> list:
    tasks = [list(t) for t in tasks]
    if not tasks:
        raise ValueError("tasks is empty; a Reptile task is a list of k minibatches")
    for i, t in enumerate(tasks):
        if not t:
            raise ValueError(f"tasks[{i}] has no minibatches; a Reptile task is a list of k >= 1 minibatches")
    return tasks


def _sgd_path(loss_fn, params, minibatches, lr):
    """W after one SGD step per minibatch, starting at params (a pure function: no autograd graph)."""
    w = params
    for batch in minibatches:
        g = grad(loss_fn)(w, batch)
        w = {k: w[k] - lr * g[k] for k in w}
    return w


def reptile_step(loss_fn, params: dict, tasks, *, inner_lr: float, outer_lr: float) -> dict:
    """New theta = theta + outer_lr * mean_i (W_i - theta); a task is its list of k minibatches."""
    check_params(params)
    inner_lr = check_step_size("inner_lr", inner_lr)
    outer_lr = check_step_size("outer_lr", outer_lr)
    tasks = _check_reptile_tasks(tasks)
    loss_fn = scalar_loss(loss_fn)
    theta = {k: v.detach() for k, v in params.items()}
    same_k = len({len(t) for t in tasks}) == 1
    stacked = [_stack([t[j] for t in tasks]) for j in range(len(tasks[0]))] if same_k else None
    if stacked is not None and all(s is not None for s in stacked):
        adapted = vmap(lambda *mb: _sgd_path(loss_fn, theta, mb, inner_lr))(*stacked)
        mean_w = {k: v.mean(0) for k, v in adapted.items()}
    else:
        paths = [_sgd_path(loss_fn, theta, t, inner_lr) for t in tasks]
        mean_w = {k: torch.stack([w[k] for w in paths]).mean(0) for k in theta}
    return {
        k: (theta[k] + outer_lr * (mean_w[k] - theta[k])).requires_grad_(params[k].requires_grad) for k in theta
    }
