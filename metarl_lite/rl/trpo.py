"""The TRPO update (Schulman et al. 2015, Sec. 6 and Appendix C) on functional parameters.

TRPO maximizes a surrogate L(theta) (e.g. the importance-weighted advantage of MAML-RL's
post-update policies) inside a trust region of the mean KL divergence,

    maximize L(theta)   subject to   KL-bar(theta) = E_s[KL(pi_theta_old(. | s) || pi_theta(. | s))] <= delta.

Around theta_old, L(theta_old + s) ~ L + g^T s and KL-bar(theta_old + s) ~ s^T F s / 2, where
g = grad L(theta_old) and F = hess KL-bar(theta_old), the Fisher information matrix (KL-bar and its
gradient are 0 there). The solution of this model problem is s = beta x with

    x = F^{-1} g,        beta = sqrt(2 delta / x^T F x)    (so that s^T F s / 2 = delta).

x comes from ``cg_iters`` conjugate-gradient iterations that only need Fisher-vector products
F v = grad_theta (grad_theta KL-bar . v) (a double backward, F is never formed), plus damping * v
so that F + damping I is safely positive definite. A backtracking line search then tries
theta_old + ratio^i s for i = 0, 1, ... and accepts the first candidate whose exact KL-bar is <= delta
and whose surrogate improved on L(theta_old); if none does, theta stays theta_old.

With F estimated from a subsample of the data (``fisher_kl_fn``), x^T F x can underestimate the
curvature along x, so the full step overshoots the trust region and the line search cuts it by
more than it needs. ``rescale_step`` sizes s by the exact KL instead: along the direction KL-bar grows
like the square of the step length, so s sqrt(c delta / KL-bar(theta_old + s)) has KL-bar ~ c delta
(when the full step overshoots); the line search starts from it. c = ``RESCALE_TARGET`` = 0.98 leaves
room for the KL's small departure from a parabola: aimed at delta itself, the step lands a hair past
it about half the time and the line search cuts it by the full ratio.
"""

import math

import torch

from ..meta._checks import check_finite, check_params

RESCALE_TARGET = 0.98  # of delta: where rescale_step aims the step (see the module docstring)


def _flat(tensors) -> torch.Tensor:
    """One vector from tensors, in order (the order of a params dict's values)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflat(vector: torch.Tensor, like: dict) -> dict:
    """The inverse of ``_flat(like.values())``: a dict of fresh leaf tensors that require grad."""
    out, start = {}, 0
    for k, v in like.items():
        out[k] = vector[start : start + v.numel()].reshape(v.shape).detach().requires_grad_()
        start += v.numel()
    return out


def _scalar(what: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        shape = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"{what} must return a scalar tensor, got {shape}")
    return value


def conjugate_gradient(matvec, b: torch.Tensor, *, iters: int = 10, residual_tol: float = 1e-10) -> torch.Tensor:
    """Approximate solution x of A x = b for symmetric positive definite A, given v -> A v.

    Starts from x = 0; each iteration moves along a search direction that is A-conjugate to the
    previous ones, so in exact arithmetic n iterations solve an n-dimensional system. Stops early
    once the squared residual ||b - A x||^2 falls below ``residual_tol``.
    """
    x = torch.zeros_like(b)
    r, p = b.clone(), b.clone()  # residual b - A x, search direction
    rr = r @ r
    for _ in range(iters):
        if rr <= residual_tol:
            break
        ap = matvec(p)
        curvature = p @ ap
        if not curvature > 0:  # A is not positive definite along p: stop with the current x
            break
        alpha = rr / curvature
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def fisher_vector_product(kl_fn, params: dict, *, damping: float):
    """v -> (F + damping I) v with F = hess KL-bar at ``params``, by double backward.

    ``kl_fn(params) -> scalar`` is the mean KL from the old policy; ``params`` must require grad.
    Vectors are flat, in the order of ``params.values()``.
    """
    values = list(params.values())
    divergence = _scalar("kl_fn", kl_fn(params))
    grads = torch.autograd.grad(divergence, values, create_graph=True, materialize_grads=True)
    flat_grad = _flat(grads)

    def product(v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad(flat_grad @ v, values, retain_graph=True, materialize_grads=True)
        return _flat(hv) + damping * v

    return product


def _check_options(max_kl, damping, cg_iters, backtrack_ratio, max_backtracks):
    if not isinstance(max_kl, (int, float)) or not max_kl > 0:
        raise ValueError(f"max_kl must be a number > 0, got {max_kl!r}")
    if not isinstance(damping, (int, float)) or not damping >= 0:
        raise ValueError(f"damping must be a number >= 0, got {damping!r}")
    if not isinstance(backtrack_ratio, (int, float)) or not 0 < backtrack_ratio < 1:
        raise ValueError(f"backtrack_ratio must be in (0, 1), got {backtrack_ratio!r}")
    for name, value in (("cg_iters", cg_iters), ("max_backtracks", max_backtracks)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def rescaled(step: torch.Tensor, full_step_kl: float, max_kl: float) -> torch.Tensor:
    """``rescale_step``'s step: s sqrt(c delta / KL-bar(theta_old + s)) when that is shorter, else s."""
    overshoot = full_step_kl / (RESCALE_TARGET * max_kl)
    return step / math.sqrt(overshoot) if overshoot > 1 else step  # NaN: s, which the line search rejects


def trpo_step(params: dict, surrogate_fn, kl_fn, *, max_kl: float = 0.01, damping: float = 1e-5, cg_iters: int = 10,
              backtrack_ratio: float = 0.5, max_backtracks: int = 15, fisher_kl_fn=None, rescale_step: bool = False):
    """One TRPO update of theta = ``params``; returns (new params, info).

    ``surrogate_fn(params) -> scalar`` is L(theta), to MAXIMIZE; ``kl_fn(params) -> scalar`` the mean
    KL(pi_old || pi_theta) from the policy being updated (e.g. ``policies.kl(old, params, obs, masks)``),
    used for the line search and, unless ``fisher_kl_fn`` is given, for the Fisher-vector products.
    ``fisher_kl_fn``: the same KL on a subsample of the episodes, for cheaper products; then
    ``rescale_step`` (see the module docstring) keeps the step from overshooting. Both
    functions are called with grad enabled on leaf tensors (so they may differentiate inside,
    as MAML-RL's adaptation does). The new params are fresh leaf tensors that require grad.

    info: ``accepted`` (a step was taken), ``step_fraction`` (ratio^i of the accepted step, 0 if
    none), ``backtracks`` (i, or max_backtracks when none was accepted), ``surrogate_before`` /
    ``surrogate_after``, ``kl`` (KL-bar of the new params), ``expected_improvement`` (g . s of the
    full step), ``grad_norm`` (||g||).
    """
    check_params(params)
    _check_options(max_kl, damping, cg_iters, backtrack_ratio, max_backtracks)
    theta = {k: v.detach().requires_grad_() for k, v in params.items()}
    before = check_finite("the TRPO surrogate", _scalar("surrogate_fn", surrogate_fn(theta)))
    g = _flat(torch.autograd.grad(before, list(theta.values()), materialize_grads=True))
    check_finite("the surrogate's gradient", g)
    fvp = fisher_vector_product(fisher_kl_fn or kl_fn, theta, damping=damping)
    x = conjugate_gradient(fvp, g, iters=cg_iters)  # ~ F^{-1} g
    curvature = float(x @ fvp(x))  # x^T (F + damping I) x
    info = {"accepted": False, "step_fraction": 0.0, "backtracks": 0, "surrogate_before": before.item(),
            "surrogate_after": before.item(), "kl": 0.0, "expected_improvement": 0.0, "grad_norm": g.norm().item()}
    if not (math.isfinite(curvature) and curvature > 0):  # g = 0: nothing to gain
        return theta, info
    step = math.sqrt(2 * max_kl / curvature) * x
    start = _flat(theta.values()).detach()
    if rescale_step:
        step = rescaled(step, _scalar("kl_fn", kl_fn(_unflat(start + step, theta))).item(), max_kl)
    info["expected_improvement"] = (g @ step).item()
    for i in range(max_backtracks):
        fraction = backtrack_ratio**i
        candidate = _unflat(start + fraction * step, theta)
        value = _scalar("surrogate_fn", surrogate_fn(candidate)).item()
        divergence = _scalar("kl_fn", kl_fn(candidate)).item()
        if divergence <= max_kl and value > info["surrogate_before"]:  # False for NaN
            info.update(accepted=True, step_fraction=fraction, backtracks=i, surrogate_after=value, kl=divergence)
            return candidate, info
    info["backtracks"] = max_backtracks
    return theta, info
