"""Gaussian MLP policies on functional parameters (a dict of tensors), as in MAML-RL and TRPO.

The policy pi_theta(a | s) = N(a; mu_theta(s), diag(sigma^2)) has a mean mu_theta(s) given by a
tanh MLP (``metarl_lite.nn.mlp``; keys "0.weight", "0.bias", ...) and a learned log standard
deviation log sigma (key "log_std", shape [act_dim]) that does not depend on the state. With
d = act_dim and z_j = (a_j - mu_j) / sigma_j,

    log pi(a | s) = sum_j [-z_j^2 / 2 - log sigma_j - log(2 pi) / 2],
    H[pi] = sum_j [log sigma_j + log(2 pi e) / 2],
    KL(pi_old || pi_new)(s) = sum_j [log(sigma_new,j / sigma_old,j)
                                     + (sigma_old,j^2 + (mu_old,j - mu_new,j)^2) / (2 sigma_new,j^2) - 1/2].

Per-task parameters: every function also takes params with a leading task dimension (each tensor
[n_tasks, ...], e.g. from ``stack``) together with observations [n_tasks, ...]; task i's slice of
the observations then goes through task i's network, in one ``torch.func.vmap`` call.
"""

import math

import torch
from torch.func import vmap

from ..nn import init_mlp, mlp
from .returns import masked

LOG_STD = "log_std"
ACTIVATION = "tanh"


def init_policy(obs_dim: int, act_dim: int, *, hidden=(64, 64), seed: int, log_std: float = 0.0,
                dtype=torch.float32) -> dict:
    """theta for an MLP obs_dim -> hidden -> act_dim (``init_mlp``) plus "log_std" = ``log_std`` [act_dim]."""
    params = init_mlp([obs_dim, *hidden, act_dim], seed=seed, dtype=dtype)
    params[LOG_STD] = torch.full((act_dim,), float(log_std), dtype=dtype, requires_grad=True)
    return params


def stack(params_list) -> dict:
    """Per-task parameters [n_tasks, ...] from a list of parameter dicts (differentiable)."""
    params_list = list(params_list)
    if not params_list or any(p.keys() != params_list[0].keys() for p in params_list):
        raise ValueError("stack needs a non-empty list of parameter dicts with the same keys")
    return {k: torch.stack([p[k] for p in params_list]) for k in params_list[0]}


def unstack(params: dict) -> list:
    """The inverse of ``stack``: per-task parameters [n_tasks, ...] as a list of n_tasks parameter dicts."""
    n = n_tasks(params)
    if n is None:
        raise ValueError("unstack needs per-task parameters [n_tasks, ...] (from stack)")
    return [{k: v[i] for k, v in params.items()} for i in range(n)]


def n_tasks(params: dict):
    """The leading task dimension of per-task params, or None for one policy."""
    if not isinstance(params, dict) or not isinstance(params.get(LOG_STD), torch.Tensor):
        raise ValueError(f"policy params must be a dict with a {LOG_STD!r} tensor (see init_policy)")
    log_std = params[LOG_STD]
    if log_std.dim() not in (1, 2):
        raise ValueError(
            f"params[{LOG_STD!r}] must be [act_dim] or per-task [n_tasks, act_dim], got {list(log_std.shape)}"
        )
    return None if log_std.dim() == 1 else log_std.shape[0]


def gaussian(params: dict, obs: torch.Tensor):
    """mu_theta(s) and log sigma, both [..., act_dim], for observations [..., obs_dim]."""
    tasks = n_tasks(params)
    net = {k: v for k, v in params.items() if k != LOG_STD}
    log_std = params[LOG_STD]
    if tasks is None:
        mean = mlp(net, obs, ACTIVATION)
    else:
        if not isinstance(obs, torch.Tensor) or obs.dim() < 2 or obs.shape[0] != tasks:
            shape = list(obs.shape) if isinstance(obs, torch.Tensor) else type(obs).__name__
            raise ValueError(
                f"per-task params for {tasks} tasks need observations [{tasks}, ..., obs_dim]; got {shape}"
            )
        mean = vmap(mlp, in_dims=(0, 0, None))(net, obs, ACTIVATION)
        log_std = log_std.reshape(tasks, *[1] * (mean.dim() - 2), -1)
    if mean.shape[-1] != log_std.shape[-1]:
        raise ValueError(f"the network outputs {mean.shape[-1]} action dims but {LOG_STD!r} has {log_std.shape[-1]}")
    return mean, log_std.expand_as(mean)


def log_prob(params: dict, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log pi_theta(a | s) for observations [..., obs_dim] and actions [..., act_dim], shape [...]."""
    mean, log_std = gaussian(params, obs)
    if not isinstance(actions, torch.Tensor) or actions.shape != mean.shape:
        shape = list(actions.shape) if isinstance(actions, torch.Tensor) else type(actions).__name__
        raise ValueError(f"actions must have shape {list(mean.shape)} (observations {list(obs.shape)}); got {shape}")
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def entropy(params: dict) -> torch.Tensor:
    """H[pi_theta] = sum_j log sigma_j + d log(2 pi e) / 2: a scalar, or [n_tasks] for per-task params."""
    n_tasks(params)
    return (params[LOG_STD] + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)


def kl(params_old: dict, params_new: dict, obs: torch.Tensor, masks=None) -> torch.Tensor:
    """Mean over states of KL(pi_old(. | s) || pi_new(. | s)), the divergence TRPO bounds.

    ``params_old`` is a constant (detached), so derivatives are in ``params_new`` only: at
    params_new = params_old the KL is 0, its gradient 0 and its Hessian the Fisher information
    matrix F = E_s E_{a ~ pi}[grad log pi grad log pi^T]. The mean runs over every leading index
    of ``obs`` [..., obs_dim], or over the real steps where ``masks`` [...] is 1.
    """
    old = {k: v.detach() for k, v in params_old.items()}
    mean_old, log_std_old = gaussian(old, obs)
    mean_new, log_std_new = gaussian(params_new, obs)
    ratio = torch.exp(2 * (log_std_old - log_std_new))  # sigma_old^2 / sigma_new^2
    per_dim = log_std_new - log_std_old + 0.5 * (ratio + (mean_old - mean_new) ** 2 * torch.exp(-2 * log_std_new) - 1)
    per_state = per_dim.sum(-1)
    if masks is None:
        return per_state.mean()
    if not isinstance(masks, torch.Tensor) or masks.shape != per_state.shape:
        shape = list(masks.shape) if isinstance(masks, torch.Tensor) else type(masks).__name__
        raise ValueError(
            f"masks must have the shape of the observations without obs_dim, {list(per_state.shape)}; got {shape}"
        )
    return masked(per_state, masks).sum() / masks.sum()


def sample(params: dict, obs: torch.Tensor, generator: torch.Generator):
    """Actions a = mu_theta(s) + sigma * eps, eps ~ N(0, I) drawn from ``generator``, and their log pi.

    Returns (actions [..., act_dim], log_probs [...]); log pi(a | s) = sum_j [-eps_j^2 / 2 - log sigma_j
    - log(2 pi) / 2] comes from the same forward pass.
    """
    mean, log_std = gaussian(params, obs)
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
    actions = mean + torch.exp(log_std) * eps
    return actions, (-0.5 * eps**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
