"""MAML (Finn, Abbeel, Levine 2017): adaptation by gradient steps, and the meta-objective.

With loss L, inner step size alpha and k inner steps on a task's support set,

    phi_0 = theta,    phi_{j+1} = phi_j - alpha * grad L_tr(phi_j),

and the meta-objective is the query loss after adaptation, averaged over tasks:
J(theta) = mean_i L_te,i(phi_k,i). Its gradient is

    grad J = (I - alpha H_0) ... (I - alpha H_{k-1}) grad L_te(phi_k),   H_j = hess L_tr(phi_j),

which autograd computes by differentiating through the inner steps (second order). First-order
MAML treats each inner gradient as a constant, so every Jacobian factor becomes the identity.
"""

import torch
from torch.func import grad, vmap

from ._checks import check_finite, check_params, check_step_size, check_steps, scalar_loss


def _trainable(params: dict) -> dict:
    """params where every tensor takes part in autograd (leaf copies of detached tensors)."""
    return {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in params.items()}


def adapt(loss_fn, params: dict, batch, *, lr: float, steps: int = 1, first_order: bool = False) -> dict:
    """Adapted parameters phi after ``steps`` gradient steps of size ``lr`` on ``batch``.

    ``loss_fn(params, batch) -> scalar``. Second order by default: phi stays a differentiable
    function of theta. With ``first_order=True`` every step uses the detached gradient, so
    phi = theta - lr * sum_j stopgrad(g_j) and d phi / d theta = I (the FOMAML meta-gradient).
    """
    check_params(params)
    lr = check_step_size("lr", lr)
    steps = check_steps("steps", steps)
    loss_fn = scalar_loss(loss_fn)
    phi = _trainable(params)
    for _ in range(steps):
        loss = check_finite("the inner-loop loss", loss_fn(phi, batch))
        grads = torch.autograd.grad(
            loss, list(phi.values()), create_graph=not first_order, materialize_grads=True
        )
        phi = {k: p - lr * (g.detach() if first_order else g) for (k, p), g in zip(phi.items(), grads)}
    return phi


def _stack(batches):
    """Stack a list of same-shaped batches (tensor or tuple of tensors) along a new task dim,
    or return None when the shapes differ (then the caller loops over tasks)."""
    first = batches[0]
    parts = [b if isinstance(b, (tuple, list)) else (b,) for b in batches]
    if any(len(p) != len(parts[0]) for p in parts):
        return None
    stacked = []
    for column in zip(*parts):
        if any(c.shape != column[0].shape for c in column):
            return None
        stacked.append(torch.stack(column))
    return tuple(stacked) if isinstance(first, (tuple, list)) else stacked[0]


def _check_tasks(tasks) -> list:
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks is empty; pass at least one (support, query) pair")
    for i, task in enumerate(tasks):
        if not isinstance(task, (tuple, list)) or len(task) != 2:
            raise ValueError(f"tasks[{i}] must be a (support, query) pair, got {type(task).__name__}")
    return tasks


def maml_objective(loss_fn, params: dict, tasks, *, lr: float, steps: int = 1, first_order: bool = False):
    """J(theta) = mean over tasks of L(phi_k(theta; support), query); a task is (support, query).

    When every task has batches of the same shapes, the per-task inner loops run as one
    ``torch.func.vmap`` over ``torch.func.grad`` (one batched call instead of a Python loop);
    otherwise tasks are adapted one at a time with :func:`adapt`. Both give the same value and
    the same gradient.
    """
    check_params(params)
    lr = check_step_size("lr", lr)
    steps = check_steps("steps", steps)
    tasks = _check_tasks(tasks)
    loss_fn = scalar_loss(loss_fn)
    supports = _stack([s for s, _ in tasks])
    queries = _stack([q for _, q in tasks])
    if supports is None or queries is None:
        losses = [
            loss_fn(adapt(loss_fn, params, s, lr=lr, steps=steps, first_order=first_order), q) for s, q in tasks
        ]
        return check_finite("the MAML objective", torch.stack(losses).mean())

    def query_loss(theta, support, query):
        phi = theta
        for _ in range(steps):
            g = grad(loss_fn)(phi, support)
            phi = {k: phi[k] - lr * (g[k].detach() if first_order else g[k]) for k in phi}
        return loss_fn(phi, query)

    return check_finite("the MAML objective", vmap(query_loss, in_dims=(None, 0, 0))(params, supports, queries).mean())
