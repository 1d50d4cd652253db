"""Surrogate objectives: scalars whose derivatives are policy-gradient estimators.

Inputs are ``[episodes, T]`` tensors (see ``returns``): ``log_probs`` holds log pi_theta(a_t | s_t)
as a differentiable function of theta, ``rewards`` the rewards r_t, ``masks`` 1 at real steps.
Write ⊥x for stop-gradient(x) (``x.detach()``: the value of x, with every derivative 0), and
G_t = sum_{t' >= t} gamma^(t' - t) r_t' for the returns-to-go (``discounted_returns``).

The three meta-policy-gradient surrogates share one form. For an episode,

    J = sum_t gamma^t r_t + sum_t c_t * gamma^t (G_t - b_t),

where b_t is an optional baseline (an estimate of G_t from s_t, e.g. ``LinearFeatureBaseline``;
0 without one) and c_t is a "magic" term whose value is 0 and whose gradient is grad log pi_t
(write l_t = log pi_theta(a_t | s_t), W_t = l_0 + ... + l_t, W_{-1} = 0, and the magic box
box(x) = exp(x - ⊥x), which equals 1 with grad box(x) = box(x) grad x):

    loglik:  c_t = l_t - ⊥l_t                    hess c_t = hess l_t
    lvc:     c_t = box(l_t) - 1 = pi/⊥pi - 1     hess c_t = hess l_t + grad l_t grad l_t^T
    dice:    c_t = box(W_t) - box(W_{t-1})       hess c_t = hess l_t + grad l_t grad l_t^T
                                                             + grad l_t grad W_{t-1}^T + grad W_{t-1} grad l_t^T

So every J has the value of the sampled discounted return sum_t gamma^t r_t, the same gradient
sum_t gamma^t (G_t - b_t) grad l_t (REINFORCE with causality and a baseline, unbiased for
grad E[sum_t gamma^t r_t]), and different Hessians. In expectation, with R_t = gamma^t (G_t - b_t),
H1 = E[sum_t grad l_t grad l_t^T R_t], H2 = E[sum_t hess l_t R_t] and H12 = E[sum_t grad W_{t-1}
grad l_t^T R_t] (Rothfuss et al. 2019), loglik gives H2, lvc H1 + H2, and dice H1 + H2 + H12 + H12^T,
the exact Hessian of the expected return. A baseline b(t, s_t) that does not look at a_t shifts H1
and H2 by opposite amounts (E[hess l_t + grad l_t grad l_t^T | s_t] = 0), so lvc's H1 + H2 and
dice's exact Hessian stay put while loglik's H2 moves.

Telescoping sum_t (box(W_t) - box(W_{t-1})) gamma^t G_t = sum_t box(W_t) gamma^t r_t - sum_t gamma^t r_t
shows that dice is DiCE (Foerster et al. 2018), sum_t box(W_t) gamma^t r_t, plus the baseline term
sum_t gamma^t b_t (box(W_{t-1}) - box(W_t)) of Mao et al. (2019) / Loaded DiCE (Farquhar et al.
2019), whose derivatives of every order are 0 in expectation, so it lowers variance without bias.
loglik's derivatives are those of the textbook sum_t l_t gamma^t (G_t - b_t), and lvc is the
low-variance curvature objective of ProMP (Rothfuss et al. 2019), sum_t pi/⊥pi gamma^t (G_t - b_t).
"""

import torch

from .returns import _unit_interval, check_batch, discounted_returns, masked, normalized


def _box(x: torch.Tensor) -> torch.Tensor:
    """The magic box exp(x - ⊥x): value 1, gradient box(x) grad x (Foerster et al. 2018)."""
    return torch.exp(x - x.detach())


def _magic_loglik(log_probs):
    """c_t = l_t - ⊥l_t."""
    return log_probs - log_probs.detach()


def _magic_lvc(log_probs):
    """c_t = box(l_t) - 1 = pi_t / ⊥pi_t - 1."""
    return _box(log_probs) - 1


def _magic_dice(log_probs):
    """c_t = box(W_t) - box(W_{t-1}), W_t = l_0 + ... + l_t, box(W_{-1}) = 1."""
    box = _box(log_probs.cumsum(dim=1))
    return box - torch.cat([torch.ones_like(box[:, :1]), box[:, :-1]], dim=1)


ESTIMATORS = {"loglik": _magic_loglik, "lvc": _magic_lvc, "dice": _magic_dice}


def _magic(log_probs, masks, estimator: str) -> torch.Tensor:
    """c_t of ``estimator`` ([episodes, T]); padded steps have l_t = 0, so c_t = 0 there."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(map(repr, ESTIMATORS))}")
    return ESTIMATORS[estimator](masked(log_probs, masks))


def _surrogate(estimator, log_probs, rewards, masks, gamma, baseline):
    """mean over episodes of sum_t gamma^t r_t + sum_t c_t gamma^t (G_t - b_t)."""
    masks = check_batch(masks, log_probs=log_probs, rewards=rewards, baseline=baseline)
    gamma = _unit_interval("gamma", gamma)
    rewards = masked(rewards.detach(), masks)
    baseline = 0.0 if baseline is None else masked(baseline.detach(), masks)
    discount = gamma ** torch.arange(rewards.shape[1], dtype=rewards.dtype)  # gamma^t
    weights = discount * (discounted_returns(rewards, masks, gamma=gamma) - baseline)
    magic = _magic(log_probs, masks, estimator)
    return ((discount * rewards).sum(dim=1) + (magic * weights).sum(dim=1)).mean()


def loglik(log_probs, rewards, masks, *, gamma: float, baseline=None) -> torch.Tensor:
    """Likelihood-ratio (REINFORCE) surrogate, to MAXIMIZE: sum_t log pi(a_t | s_t) gamma^t (G_t - b_t)
    up to a constant, value = mean discounted return, gradient = mean over episodes of
    sum_t grad log pi(a_t | s_t) gamma^t (G_t - b_t).

    Its expected Hessian is only H2 = E[sum_t hess log pi_t gamma^t (G_t - b_t)]: it ignores that the
    episodes were sampled from pi_theta, so the MAML-RL meta-gradient through it is biased.
    ``baseline``: b_t of the same shape (an estimate of G_t; detached), or None.
    """
    return _surrogate("loglik", log_probs, rewards, masks, gamma, baseline)


def lvc(log_probs, rewards, masks, *, gamma: float, baseline=None) -> torch.Tensor:
    """ProMP's low-variance curvature surrogate (Rothfuss et al. 2019), to MAXIMIZE:
    sum_t pi/⊥pi gamma^t (G_t - b_t) up to a constant, value = mean discounted return.

    Same gradient as ``loglik``; expected Hessian H1 + H2 (drops the cross terms H12 + H12^T,
    whose estimate has high variance). ``baseline``: b_t of the same shape (detached), or None.
    """
    return _surrogate("lvc", log_probs, rewards, masks, gamma, baseline)


def dice(log_probs, rewards, masks, *, gamma: float, baseline=None) -> torch.Tensor:
    """DiCE (Foerster et al. 2018) with the Mao et al. (2019) baseline, to MAXIMIZE:
    sum_t box(W_t) gamma^t r_t + sum_t gamma^t b_t (box(W_{t-1}) - box(W_t)), W_t = sum_{t' <= t} l_t'.

    Value = mean discounted return; derivatives of every order are unbiased estimates of those
    of the expected discounted return (expected Hessian H1 + H2 + H12 + H12^T, the exact one).
    ``baseline``: b_t of the same shape (an estimate of G_t; detached), or None.
    """
    return _surrogate("dice", log_probs, rewards, masks, gamma, baseline)


def _mean_over_steps(x, masks):
    return masked(x, masks).sum() / masks.sum()


def vpg_inner_loss(log_probs, advantages, masks, *, estimator: str = "loglik") -> torch.Tensor:
    """MAML-RL's inner-loop loss, to MINIMIZE: -(mean over real steps of c_t * A^_t).

    A^_t = (A_t - mean A) / (std A + 1e-8) are the advantages (e.g. ``gae`` with lam = 1 on the
    linear baseline) normalized over the real steps and detached; c_t is the magic term of
    ``estimator`` ("loglik", "lvc" or "dice", see the module docstring), so the gradient is the
    vanilla policy gradient -(mean of grad log pi_t A^_t) for all three and the estimators differ
    from the second derivative on, i.e. in the meta-gradient through the inner step
    phi = theta - alpha grad loss (alpha = 0.1 in MAML-RL). Its value is 0 (every c_t is).
    """
    masks = check_batch(masks, log_probs=log_probs, advantages=advantages)
    return -_mean_over_steps(_magic(log_probs, masks, estimator) * normalized(advantages.detach(), masks), masks)


def importance_weighted(log_probs, old_log_probs, advantages, masks) -> torch.Tensor:
    """TRPO's surrogate (Schulman et al. 2015), to MAXIMIZE: mean over real steps of rho_t A_t with
    rho_t = pi_theta(a_t | s_t) / pi_old(a_t | s_t) = exp(l_t - ⊥l_old_t), for episodes sampled by pi_old.

    At theta = old its value is mean(A) and its gradient the policy gradient of pi_old's return; away
    from it, an importance-sampled estimate of the improvement. ``old_log_probs`` and ``advantages``
    are detached; no normalization happens inside.
    """
    masks = check_batch(masks, log_probs=log_probs, old_log_probs=old_log_probs, advantages=advantages)
    ratio = torch.exp(masked(log_probs - old_log_probs.detach(), masks))
    return _mean_over_steps(ratio * advantages.detach(), masks)


def ppo_clip(log_probs, old_log_probs, advantages, masks, *, clip: float = 0.2) -> torch.Tensor:
    """PPO's clipped surrogate (Schulman et al. 2017), to MAXIMIZE; the outer objective of ProMP.

    Mean over real steps of min(rho_t A_t, clip(rho_t, 1 - clip, 1 + clip) A_t) with the
    likelihood ratio rho_t = pi_theta(a_t | s_t) / pi_old(a_t | s_t) = exp(l_t - ⊥l_old_t);
    ``old_log_probs`` and ``advantages`` are detached, and no normalization happens inside.
    """
    masks = check_batch(masks, log_probs=log_probs, old_log_probs=old_log_probs, advantages=advantages)
    if not isinstance(clip, (int, float)) or not 0 < clip < 1:
        raise ValueError(f"clip must be a number in (0, 1), got {clip!r}")
    ratio = torch.exp(masked(log_probs - old_log_probs.detach(), masks))
    advantages = advantages.detach()
    clipped = torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    return _mean_over_steps(clipped, masks)
