"""Meta-reinforcement learning: MAML-RL, Reptile-RL, probabilistic MAML-RL, and the evaluation protocol.

A task i is an MDP (a navigation goal, a target velocity, ...). Every algorithm here shares one
inner loop, MAML-RL's (Finn, Abbeel, Levine 2017, Sec. 3.2 and 5.2): from policy parameters
theta, sample episodes D_0 of each task with phi_0 = theta and take k vanilla policy-gradient steps

    phi_{j+1} = phi_j + alpha * grad_phi J^_j(phi_j),        J^_j(phi) = mean over real steps of c_t(phi) * A^_t,

where D_j are fresh episodes sampled with phi_j, A^_t the advantages of D_j (GAE, gamma = 0.99,
lambda = 1, on a linear feature baseline fit to task i's episodes, normalized over the task's real
steps) and c_t the magic term of the chosen estimator (``surrogates.vpg_inner_loss``: "loglik",
"lvc" or "dice"; value 0, gradient grad log pi_phi(a_t | s_t)). alpha = 0.1 in the paper.

Every task's episodes come from one VectorEnv whose slots are task-major (``make_vec_env(tasks,
episodes_per_task)``, which also sets ``env.tasks``), and per-task parameters are stacked along a
leading task dimension (``policies.stack``): one sampler call and one inner step serve the whole
meta-batch. The inner loss of the batch is sum_i L_i(phi_i), whose gradient in phi_i is task i's
own, and ``metarl_lite.meta.adapt`` takes the step.

Outer updates (theta: a policy dict from ``policies.init_policy``):
- ``maml_rl_step``: one TRPO step on the mean post-update surrogate, as in MAML-RL;
- ``promp_rl_step``: a few Adam steps on PPO's clipped post-update surrogate with an inner KL
  penalty (ProMP, Rothfuss et al. 2019);
- ``reptile_rl_step``: theta += beta * mean_i (phi_k,i - theta) (Nichol et al. 2018), first order;
- ``pmaml_rl_step``: a learned Gaussian N(mu, sigma^2) over theta, trained with Adam (our
  specification of probabilistic MAML in RL; see ``PolicyDistribution``).
``evaluate`` returns the mean return of held-out tasks after 0, 1, ..., K inner steps.
"""

import math
import time
from dataclasses import dataclass, fields
from functools import partial

import numpy as np
import torch

from ..meta import adapt
from ..meta._checks import check_finite, check_step_size, check_steps
from ..meta.platipus import gaussian_kl
from . import policies
from .baselines import LinearFeatureBaseline
from .returns import discounted_returns, gae, masked, normalized
from .sampler import Episodes, sample_episodes
from .surrogates import importance_weighted, ppo_clip, vpg_inner_loss
from .trpo import trpo_step

GAMMA = 0.99  # discount of the returns and advantages (MAML-RL)
LAM = 1.0  # GAE lambda: A_t = G_t - b(s_t)
INNER_LR = 0.1  # alpha
MAX_KL = 0.01  # TRPO's trust region delta on the mean KL of the post-update policies


def per_task(x: torch.Tensor, n_tasks: int) -> torch.Tensor:
    """[E, ...] -> [n_tasks, E / n_tasks, ...]: the episodes of task i (task-major order) in row i."""
    return x.reshape(n_tasks, -1, *x.shape[1:])


def episode_returns(episodes: Episodes, n_tasks: int) -> torch.Tensor:
    """Undiscounted return sum_t r_t of every episode, shape [n_tasks, episodes per task]."""
    return per_task(masked(episodes.rewards, episodes.masks).sum(1), n_tasks)


def task_returns(episodes: Episodes, n_tasks: int) -> torch.Tensor:
    """Mean undiscounted return sum_t r_t of each task's episodes, shape [n_tasks]."""
    return episode_returns(episodes, n_tasks).mean(1)


def advantages(episodes: Episodes, n_tasks: int, *, gamma: float = GAMMA, lam: float = LAM) -> torch.Tensor:
    """A^_t of MAML-RL, shape [E, T]: per task, GAE on its own linear feature baseline, normalized.

    For task i: G_t = discounted returns-to-go, b_i = ``LinearFeatureBaseline`` fit to (s_t, G_t) of
    task i's episodes, A_t = sum_l (gamma lambda)^l (r_{t+l} + gamma b_i(s_{t+l+1}) - b_i(s_{t+l}))
    (= G_t - b_i(s_t) for lambda = 1), then A^_t = (A_t - mean) / std over task i's real steps.
    """
    out = []
    for obs, rewards, masks in zip(*(per_task(x, n_tasks) for x in (episodes.obs, episodes.rewards, episodes.masks))):
        returns = discounted_returns(rewards, masks, gamma=gamma)
        values = LinearFeatureBaseline().fit(obs, returns, masks).predict(obs, masks)
        out.append(normalized(gae(rewards, values, masks, gamma=gamma, lam=lam), masks))
    return torch.cat(out)


def _sum_over_tasks(loss_fn, params: dict, episodes: Episodes, *columns) -> torch.Tensor:
    """sum_i loss_fn(log pi_phi_i(a | s) on task i's episodes, *task i's rows of ``columns``), each column [E, ...]."""
    n = policies.n_tasks(params)
    log_probs = policies.log_prob(params, per_task(episodes.obs, n), per_task(episodes.actions, n))  # [n, m, T]
    return torch.stack([loss_fn(lp, *rows) for lp, *rows in zip(log_probs, *(per_task(c, n) for c in columns))]).sum()


def inner_loss(params: dict, batch, *, estimator: str = "loglik") -> torch.Tensor:
    """sum_i L_i(phi_i) with L_i = -J^_i = ``vpg_inner_loss`` on task i's episodes, to MINIMIZE.

    ``params``: per-task [n_tasks, ...]; ``batch``: (episodes, advantages [E, T]). Task i's loss
    depends on phi_i alone, so grad_{phi_i} of the sum is task i's policy gradient (negated).
    """
    episodes, adv = batch
    return _sum_over_tasks(partial(vpg_inner_loss, estimator=estimator), params, episodes, adv, episodes.masks)


def inner_step(params: dict, batch, *, lr: float = INNER_LR, estimator: str = "loglik",
               first_order: bool = False) -> dict:
    """phi = theta + alpha * grad J^(theta) = theta - alpha * grad ``inner_loss``, for every task at once.

    Second order by default (phi stays differentiable in theta, create_graph); ``first_order=True``
    detaches the gradient, so d phi / d theta = I.
    """
    return adapt(partial(inner_loss, estimator=estimator), params, batch, lr=lr, steps=1, first_order=first_order)


def detached(params: dict) -> dict:
    """The values of params as constants (stopgrad)."""
    return {k: v.detach() for k, v in params.items()}


@dataclass
class AdaptationPath:
    """What k inner steps on a meta-batch saw: phi_j (detached, per task) and the episodes D_j it
    sampled, with their advantages A^_j, for j = 0..k (D_k: the post-update episodes)."""

    params: list  # k + 1 per-task dicts
    episodes: list  # k + 1 Episodes (k if phi_k did not sample)
    advantages: list  # one [E, T] per Episodes
    seconds: dict  # {"sample": env and policy time, "adapt": advantages and inner steps}

    def returns(self) -> torch.Tensor:
        """Mean return of each task after 0..k inner steps, shape [k + 1, n_tasks]."""
        n = policies.n_tasks(self.params[0])
        return torch.stack([task_returns(episodes, n) for episodes in self.episodes])

    def first_tasks(self, count: int) -> "AdaptationPath":
        """The same path restricted to tasks 0..count-1 (the tasks are i.i.d., so any subset will do)."""
        n = policies.n_tasks(self.params[0])
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= n:
            raise ValueError(f"the number of tasks must be an integer in [1, {n}], got {count!r}")
        rows = count * len(self.advantages[0]) // n  # episodes are task-major
        return AdaptationPath([{k: v[:count] for k, v in phi.items()} for phi in self.params],
                              [Episodes(*(getattr(e, f.name)[:rows] for f in fields(Episodes))) for e in self.episodes],
                              [a[:rows] for a in self.advantages], self.seconds)


def sample_path(env, params: dict, *, inner_lr: float = INNER_LR, inner_steps: int = 1, horizon: int, seed: int,
                gamma: float = GAMMA, lam: float = LAM, later_lr=None, sample_adapted: bool = True) -> AdaptationPath:
    """Sample D_0 with phi_0 = ``params`` (per task), step to phi_1, sample D_1 with phi_1, ..., D_k
    (D_k only if ``sample_adapted``: an update that needs phi_k alone saves that batch).

    The steps only need the values of phi_j here (they are the same for every estimator and at
    first or second order), so no graph is kept; ``adapted`` re-derives phi_k(theta) with one.
    Batch j is sampled with seed j of ``np.random.SeedSequence(seed)``. Step 1 has size alpha =
    ``inner_lr``, later steps ``later_lr`` (default alpha).
    """
    inner_lr = check_step_size("inner_lr", inner_lr)
    later_lr = inner_lr if later_lr is None else check_step_size("later_lr", later_lr)
    inner_steps = check_steps("inner_steps", inner_steps)
    n = policies.n_tasks(params)
    seeds = np.random.SeedSequence(seed).generate_state(inner_steps + 1)
    path = AdaptationPath([detached(params)], [], [], {"sample": 0.0, "adapt": 0.0})
    for j in range(inner_steps + sample_adapted):
        tic = time.perf_counter()
        path.episodes.append(sample_episodes(env, path.params[-1], horizon=horizon, seed=int(seeds[j])))
        toc = time.perf_counter()
        path.advantages.append(advantages(path.episodes[-1], n, gamma=gamma, lam=lam))
        if j < inner_steps:
            with torch.enable_grad():  # also when the caller evaluates under torch.no_grad()
                phi = inner_step(path.params[-1], (path.episodes[-1], path.advantages[-1]),
                                 lr=inner_lr if j == 0 else later_lr, first_order=True)
            path.params.append(detached(phi))
        path.seconds["sample"] += toc - tic
        path.seconds["adapt"] += time.perf_counter() - toc
    return path


def adapted(params: dict, path: AdaptationPath, *, inner_lr: float = INNER_LR, estimator: str = "loglik",
            first_order: bool = False) -> dict:
    """phi_k(params): the k inner steps of ``path`` replayed from ``params`` on its stored D_0..D_{k-1}.

    At params = phi_0 this reproduces path.params[-1]; elsewhere it is the differentiable map
    theta -> phi_k that the meta-gradient goes through (each step on the episodes that phi_j sampled,
    without resampling; the estimator decides which second-order terms the samples' dependence
    on theta contributes).
    """
    phi = params
    for batch in zip(path.episodes[:-1], path.advantages[:-1]):
        phi = inner_step(phi, batch, lr=inner_lr, estimator=estimator, first_order=first_order)
    return phi


def post_update_surrogate(params: dict, episodes: Episodes, adv: torch.Tensor) -> torch.Tensor:
    """L(phi) = ``importance_weighted`` over the real steps of all tasks: mean of pi_phi / pi_old * A^, to MAXIMIZE.

    ``params``: per-task phi; ``episodes``: the post-update episodes, sampled by pi_old (their
    stored log_probs); ``adv``: their advantages. At phi = phi_old the value is mean(A^) = 0 and
    the gradient is the policy gradient of the post-update return (TRPO's surrogate).
    """
    n = policies.n_tasks(params)
    log_probs = policies.log_prob(params, per_task(episodes.obs, n), per_task(episodes.actions, n))
    return importance_weighted(log_probs.reshape(episodes.masks.shape), episodes.log_probs, adv, episodes.masks)


def _n_tasks(env) -> int:
    tasks = getattr(env, "tasks", None)
    if not tasks or env.num_envs % len(tasks):
        raise ValueError("env must list its tasks in env.tasks with num_envs a multiple of them "
                         "(build it with make_vec_env(tasks, episodes_per_task))")
    return len(tasks)


def _repeat(theta: dict, n: int) -> dict:
    """theta for each of n tasks, [n, ...], still differentiable in theta."""
    return policies.stack([theta] * n)


def meta_surrogate(theta: dict, path: AdaptationPath, *, inner_lr: float = INNER_LR, estimator: str = "loglik",
                   first_order: bool = False) -> torch.Tensor:
    """MAML-RL's outer objective L(theta) = ``post_update_surrogate``(phi(theta), D', A^'), to MAXIMIZE.

    phi(theta) = ``adapted``(theta for every task, path) on the stored pre-update episodes, D' = the
    path's post-update episodes. Its gradient at theta_old is the meta-policy gradient
    (I + alpha H)^T grad L(phi) for one step, H the estimator's Hessian of J^.
    """
    phi = adapted(_repeat(theta, policies.n_tasks(path.params[0])), path, inner_lr=inner_lr, estimator=estimator,
                  first_order=first_order)
    return post_update_surrogate(phi, path.episodes[-1], path.advantages[-1])


def meta_kl(theta: dict, path: AdaptationPath, *, inner_lr: float = INNER_LR, estimator: str = "loglik",
            first_order: bool = False) -> torch.Tensor:
    """Mean over the post-update states of all tasks of KL(pi_phi_old(. | s) || pi_phi(theta)(. | s)).

    phi_old = the path's post-update parameters (constant); phi(theta) as in ``meta_surrogate``. Its
    Hessian at theta_old is the Fisher matrix of theta through the adaptation, J^T F_phi J.
    """
    n = policies.n_tasks(path.params[0])
    phi = adapted(_repeat(theta, n), path, inner_lr=inner_lr, estimator=estimator, first_order=first_order)
    post = path.episodes[-1]
    return policies.kl(path.params[-1], phi, per_task(post.obs, n), per_task(post.masks, n))


def _path_metrics(path: AdaptationPath, outer_seconds: float) -> dict:
    returns = path.returns().mean(1)
    return {"pre_return": returns[0].item(), "post_return": returns[-1].item(),
            "sample_seconds": path.seconds["sample"], "adapt_seconds": path.seconds["adapt"],
            "outer_seconds": outer_seconds}


def maml_rl_step(theta: dict, env, *, horizon: int, seed: int, inner_lr: float = INNER_LR, inner_steps: int = 1,
                 estimator: str = "loglik", first_order: bool = False, max_kl: float = MAX_KL, fisher_tasks=None,
                 gamma: float = GAMMA, lam: float = LAM, **trpo_options):
    """One MAML-RL meta-iteration (Finn et al. 2017, Alg. 3 with TRPO; rllab / ProMP layout).

    1. Sample pre-update episodes D_i with theta for every task of ``env``; adapt
       phi_i = theta + alpha grad J^_i(theta) (``inner_steps`` = k steps, fresh episodes each);
       sample post-update episodes D'_i with phi_i.
    2. TRPO on theta: maximize ``meta_surrogate`` L(theta) subject to ``meta_kl`` <= delta = ``max_kl``
       (mean KL between the old and new post-update policies), where phi(theta) is re-derived from
       each candidate theta on the stored D (second order unless ``first_order``; the meta-gradient's
       Hessian term follows ``estimator``). ``fisher_tasks``: use only the first that many tasks for
       the Fisher-vector products of the conjugate gradient (cheaper; the line search still checks
       the KL of all tasks); None uses all.
    The line search's candidates re-adapt without importance weights on D (as pytorch-maml-rl
    does). Every estimator gives the same phi(theta), so the same surrogate and KL values; their
    meta-gradients differ in the Hessian term of the inner step only. k = 0 is plain TRPO on the
    tasks' mean return (joint training, the "pretrain" baseline).

    Returns (new theta, metrics): pre_return / post_return (mean episode return before and after
    adaptation), kl, surrogate_before / surrogate_after, accepted, backtracks, and the seconds
    spent in sample_seconds (environments and policy forward passes), adapt_seconds (advantages
    and inner steps while sampling) and outer_seconds (the TRPO step, re-adaptations included).
    ``trpo_options`` go to ``trpo_step`` (damping, cg_iters, backtrack_ratio, max_backtracks, rescale_step).
    """
    n = _n_tasks(env)
    path = sample_path(env, _repeat(detached(theta), n), inner_lr=inner_lr, inner_steps=inner_steps,
                       horizon=horizon, seed=seed, gamma=gamma, lam=lam)
    inner = {"inner_lr": inner_lr, "estimator": estimator, "first_order": first_order}
    fisher_path = path if fisher_tasks is None else path.first_tasks(fisher_tasks)
    tic = time.perf_counter()
    new, info = trpo_step(theta, partial(meta_surrogate, path=path, **inner), partial(meta_kl, path=path, **inner),
                          fisher_kl_fn=partial(meta_kl, path=fisher_path, **inner), max_kl=max_kl, **trpo_options)
    metrics = {**_path_metrics(path, time.perf_counter() - tic), "kl": info["kl"],
               "surrogate_before": info["surrogate_before"], "surrogate_after": info["surrogate_after"],
               "accepted": info["accepted"], "backtracks": info["backtracks"]}
    return new, metrics


def reptile_rl_step(theta: dict, env, *, horizon: int, seed: int, inner_lr: float = INNER_LR, inner_steps: int = 3,
                    outer_lr: float = 1.0, gamma: float = GAMMA, lam: float = LAM):
    """One Reptile meta-iteration on RL tasks (Nichol, Achiam, Schulman 2018, batched):

        W_i = phi_k,i (k inner VPG steps from theta, fresh episodes each),
        theta <- theta + beta * mean_i (W_i - theta).

    First order: no derivative goes through W_i. k = ``inner_steps`` >= 1 (k = 1 reduces to joint
    training with step alpha beta, so use k > 1), beta = ``outer_lr``. The update never samples with
    W_i, so post_return is the return after k - 1 steps (of D_{k-1}, the last batch the inner loop
    sampled; sampling W_i for a metric alone would cost another batch). Returns (new theta, metrics as
    in ``maml_rl_step`` without the TRPO entries).
    """
    outer_lr = check_step_size("outer_lr", outer_lr)
    if check_steps("inner_steps", inner_steps) < 1:
        raise ValueError("Reptile needs inner_steps >= 1 (and > 1 to differ from joint training)")
    path = sample_path(env, _repeat(detached(theta), _n_tasks(env)), inner_lr=inner_lr, inner_steps=inner_steps,
                       horizon=horizon, seed=seed, gamma=gamma, lam=lam, sample_adapted=False)
    tic = time.perf_counter()
    w = path.params[-1]
    new = {k: (v.detach() + outer_lr * (w[k].mean(0) - v.detach())).requires_grad_() for k, v in theta.items()}
    return new, _path_metrics(path, time.perf_counter() - tic)


def promp_inner_loss(params: dict, batch) -> torch.Tensor:
    """ProMP's inner loss, to MINIMIZE: -sum_i mean_t rho_t A^_t, rho_t = pi_phi_i(a_t | s_t) / pi_old(a_t | s_t)
    on task i's episodes (``importance_weighted`` to the policy that sampled them). At phi = pi_old's
    parameters its gradient is the VPG step's and its Hessian the LVC one (H1 + H2, Rothfuss et al. 2019);
    away from them the weights keep the inner step an estimate for the episodes actually sampled."""
    episodes, adv = batch
    return -_sum_over_tasks(importance_weighted, params, episodes, episodes.log_probs, adv, episodes.masks)


def promp_rl_step(theta: dict, optimizer, env, *, horizon: int, seed: int, inner_lr: float = INNER_LR,
                  inner_steps: int = 1, outer_steps: int = 5, clip: float = 0.3, inner_kl_weight: float = 5e-4,
                  gamma: float = GAMMA, lam: float = LAM):
    """One meta-iteration of ProMP, Proximal Meta-Policy Search (Rothfuss et al. 2019); updates theta in place.

    Sample D_0, ..., D_k as MAML-RL does (their samplers pi_old,j are the policies phi_j,old), then take
    ``outer_steps`` steps of ``optimizer`` (Adam over theta's leaves) on the same episodes, each maximizing

        J(theta) = mean_i J^CLIP_i(phi_k,i(theta)) - eta * mean_{j<k} KL_j(theta),

    where phi_{j+1} = phi_j - alpha grad ``promp_inner_loss`` on D_j (second order), J^CLIP_i is PPO's
    clipped surrogate (``ppo_clip``, epsilon = ``clip``) of task i's post-update episodes with
    rho_t = pi_phi_k(theta) / pi_old,k, and KL_j the mean KL(pi_old,j || pi_phi_j(theta)) over D_j's states,
    the inner penalty that keeps the policies whose samples the inner steps use close to the samplers
    (averaged over the k steps, as in the authors' code). eta = ``inner_kl_weight``. Clipping replaces
    TRPO's constrained step, so the update is a few cheap Adam steps (which still differentiate through
    the inner steps). Returns metrics as in ``reptile_rl_step`` plus clip_objective (J^CLIP before
    the first and after the last step) and inner_kl.
    """
    if check_steps("outer_steps", outer_steps) < 1:
        raise ValueError(f"ProMP needs outer_steps >= 1 optimizer steps per meta-batch, got {outer_steps}")
    inner_kl_weight = check_step_size("inner_kl_weight", inner_kl_weight)
    path = sample_path(env, _repeat(detached(theta), _n_tasks(env)), inner_lr=inner_lr, inner_steps=inner_steps,
                       horizon=horizon, seed=seed, gamma=gamma, lam=lam)
    tic = time.perf_counter()
    for step in range(outer_steps):
        clipped, inner_kl = promp_objective(theta, path, inner_lr=inner_lr, clip=clip)
        if step == 0:
            before = clipped.item()
        optimizer.zero_grad()
        check_finite("the ProMP objective", -(clipped - inner_kl_weight * inner_kl)).backward()
        optimizer.step()
    clipped, inner_kl = promp_objective(theta, path, inner_lr=inner_lr, clip=clip)
    return {**_path_metrics(path, time.perf_counter() - tic), "clip_objective_before": before,
            "clip_objective_after": clipped.item(), "inner_kl": inner_kl.item()}


def promp_objective(theta: dict, path: AdaptationPath, *, inner_lr: float = INNER_LR, clip: float = 0.3) -> tuple:
    """(mean_i J^CLIP_i(phi_k,i(theta)), mean_{j<k} KL_j(theta)) of ``promp_rl_step`` on a sampled path.

    At theta = theta_old every ratio is 1 and every KL has zero gradient, so the gradient of J^CLIP is
    MAML-RL's meta-gradient with the LVC estimator (per-task means of the post-update surrogate).
    """
    n = policies.n_tasks(path.params[0])
    phi, kls = _repeat(theta, n), []
    for j, batch in enumerate(zip(path.episodes[:-1], path.advantages[:-1])):
        kls.append(policies.kl(path.params[j], phi, per_task(batch[0].obs, n), per_task(batch[0].masks, n)))
        phi = adapt(promp_inner_loss, phi, batch, lr=inner_lr)
    post = path.episodes[-1]
    clipped = _sum_over_tasks(partial(ppo_clip, clip=clip), phi, post, post.log_probs, path.advantages[-1],
                              post.masks) / n
    return clipped, torch.stack(kls).mean() if kls else torch.zeros(())


class PolicyDistribution:
    """q(theta) = N(mu, diag(sigma^2)) over policy parameters, for probabilistic MAML-RL.

    Probabilistic MAML in RL has no published specification; ours follows PLATIPUS (Finn, Xu,
    Levine 2018) without its inference network: per task theta_i = mu + sigma * eps_i,
    eps_i ~ N(0, I) (reparameterized, so gradients reach mu and sigma), k VPG steps to phi_i, and

        maximize  mean_i J(phi_i(theta_i)) - beta * KL(N(mu, sigma^2) || N(stopgrad(mu), sigma_0^2)).

    The KL only pulls sigma toward sigma_0 = ``prior_std`` (its mean term and mu-gradient are 0); it
    keeps the distribution from collapsing to a point. ``mu`` and ``log_sigma`` are dicts of leaf
    tensors with the keys of theta; sigma starts at ``init_std`` (default sigma_0, so KL = 0).
    """

    def __init__(self, theta: dict, *, prior_std: float = 0.1, init_std=None):
        self.prior_std = check_step_size("prior_std", prior_std)
        init_std = self.prior_std if init_std is None else check_step_size("init_std", init_std)
        if not (self.prior_std > 0 and init_std > 0):
            raise ValueError(f"prior_std and init_std must be > 0, got {self.prior_std} and {init_std}")
        self.mu = {k: v.detach().clone().requires_grad_() for k, v in theta.items()}
        self.log_sigma = {k: torch.full_like(v, math.log(init_std)).requires_grad_() for k, v in self.mu.items()}

    def parameters(self) -> list:
        """mu and log sigma, for an optimizer."""
        return [*self.mu.values(), *self.log_sigma.values()]

    def sample(self, n: int, generator: torch.Generator) -> dict:
        """n draws theta_i = mu + sigma * eps_i, per task [n, ...], differentiable in mu and log sigma."""
        return {k: mu + torch.exp(self.log_sigma[k]) * torch.randn((n, *mu.shape), generator=generator, dtype=mu.dtype)
                for k, mu in self.mu.items()}

    def kl_to_prior(self) -> torch.Tensor:
        """KL(N(mu, sigma^2) || N(stopgrad(mu), sigma_0^2)), summed over every parameter entry:

            sum [log(sigma_0 / sigma) + sigma^2 / (2 sigma_0^2) - 1/2]   (the mean term (mu - stopgrad(mu))^2 = 0).
        """
        var = {k: torch.exp(2 * v) for k, v in self.log_sigma.items()}
        prior_var = {k: torch.full_like(v, self.prior_std**2) for k, v in var.items()}
        return gaussian_kl(self.mu, var, detached(self.mu), prior_var)


def pmaml_rl_step(dist: PolicyDistribution, optimizer, env, *, horizon: int, seed: int, inner_lr: float = INNER_LR,
                  inner_steps: int = 1, kl_weight: float = 1e-3, estimator: str = "loglik", first_order: bool = False,
                  max_kl=None, surrogate_test: bool = False, gamma: float = GAMMA, lam: float = LAM) -> dict:
    """One probabilistic MAML-RL meta-iteration (see ``PolicyDistribution``); updates ``dist`` in place.

    Draw theta_i ~ N(mu, sigma^2) per task (seed ``seed``), sample D_i with theta_i, adapt to phi_i,
    sample D'_i with phi_i, and take one ``optimizer`` step (e.g. Adam over ``dist.parameters()``)
    on -(L(phi(theta)) - beta * KL), L the ``post_update_surrogate`` on D'. A first-order optimizer
    rather than TRPO: the trust region bounds a change of policy, and here a step moves a whole
    distribution of them. beta = ``kl_weight``. With ``max_kl`` = delta the optimizer's step is then
    bounded by ``trust_region`` on the mean policy, and with ``surrogate_test`` too a shrunk step is kept
    only if it raises the objective L - beta KL on this iteration's batch and draws eps (TRPO's
    surrogate test). Returns metrics as in ``reptile_rl_step`` plus the objective terms ``surrogate``
    and ``kl_to_prior``, ``objective`` = L - beta KL, ``sigma`` (mean of sigma over all parameters), and
    with ``max_kl`` the step's ``step_kl``, ``backtracks`` and ``objective_after`` (at the kept step).
    """
    kl_weight = check_step_size("kl_weight", kl_weight)
    if max_kl is not None:
        max_kl = check_step_size("max_kl", max_kl)
    n = _n_tasks(env)
    draw = partial(dist.sample, n)  # theta_i = mu + sigma * eps_i with this iteration's eps_i
    path = sample_path(env, draw(torch.Generator().manual_seed(seed)), inner_lr=inner_lr, inner_steps=inner_steps,
                       horizon=horizon, seed=seed, gamma=gamma, lam=lam)

    def terms(first_order: bool = first_order) -> tuple:
        """(L(phi(mu + sigma * eps)), KL(q || prior)) at the current mu and sigma."""
        phi = adapted(draw(torch.Generator().manual_seed(seed)), path, inner_lr=inner_lr, estimator=estimator,
                      first_order=first_order)
        return post_update_surrogate(phi, path.episodes[-1], path.advantages[-1]), dist.kl_to_prior()

    def objective_now() -> float:
        with torch.enable_grad():  # the inner steps differentiate, also inside the line search's no_grad
            surrogate, kl = terms(first_order=True)  # a value only: phi's first-order replay is the same
        return (surrogate - kl_weight * kl).item()

    tic = time.perf_counter()
    surrogate, kl = terms()
    objective = surrogate - kl_weight * kl
    optimizer.zero_grad()
    check_finite("the probabilistic MAML-RL objective", -objective).backward()
    before = [p.detach().clone() for p in dist.parameters()]
    optimizer.step()
    bounded = {}
    if max_kl is not None:
        improves = (lambda: objective_now() > objective.item()) if surrogate_test else None
        bounded = {**trust_region(dist, before, path.episodes[0], max_kl=max_kl, improves=improves),
                   "objective_after": objective_now()}
    sigma = torch.cat([torch.exp(v.detach()).reshape(-1) for v in dist.log_sigma.values()]).mean()
    return {**_path_metrics(path, time.perf_counter() - tic), "surrogate": surrogate.item(), "kl_to_prior": kl.item(),
            "objective": objective.item(), "sigma": sigma.item(), **bounded}


def trust_region(dist: PolicyDistribution, before: list, episodes: Episodes, *, max_kl: float, improves=None,
                 backtrack_ratio: float = 0.5, max_backtracks: int = 15) -> dict:
    """Shrink the step that moved ``dist.parameters()`` from the values ``before`` to ratio^j of itself,
    the smallest j < max_backtracks with KL(pi_mu_before || pi_mu) <= delta = ``max_kl`` over the states
    of ``episodes`` and, if given, ``improves()`` true at the shrunk step (undo it if there is none):
    TRPO's line search on the mean policy, its surrogate test being ``improves``. Returns ``step_kl``
    (the KL kept) and ``backtracks`` (j, or max_backtracks when undone).
    """
    params = dist.parameters()
    after = [p.detach().clone() for p in params]
    mu_before = dict(zip(dist.mu, before))  # mu leads dist.parameters()
    with torch.no_grad():
        for j in range(max_backtracks):
            for p, old, new in zip(params, before, after):
                p.copy_(old + backtrack_ratio**j * (new - old))
            step_kl = policies.kl(mu_before, dist.mu, episodes.obs, episodes.masks).item()
            if step_kl <= max_kl and (improves is None or improves()):  # False for NaN
                return {"step_kl": step_kl, "backtracks": j}
        for p, old in zip(params, before):
            p.copy_(old)
    return {"step_kl": 0.0, "backtracks": max_backtracks}


def adaptation_path(init, tasks, *, make_env, adapt_steps: int, adapt_lr: float = INNER_LR, episodes_per_task: int,
                    horizon: int, seed: int, samples: int = 1, gamma: float = GAMMA, lam: float = LAM,
                    later_adapt_lr=None) -> AdaptationPath:
    """K = ``adapt_steps`` VPG steps from ``init`` on every task, the first of size alpha = ``adapt_lr``,
    later ones of size ``later_adapt_lr`` (default alpha): the ``AdaptationPath`` of phi_0..phi_K and
    their episodes, one slot per (task, sample) pair, task-major.

    ``init``: a policy dict theta, or a ``PolicyDistribution`` from which each task draws
    ``samples`` initializations (each adapted on its own episodes). Every (task, sample) pair runs
    ``episodes_per_task`` episodes per step in one env ``make_env(tasks repeated, episodes_per_task)``.
    """
    tasks = list(tasks)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    if not tasks:
        raise ValueError("tasks is empty; pass at least one held-out task")
    slots = len(tasks) * samples
    if isinstance(init, PolicyDistribution):
        params = detached(init.sample(slots, torch.Generator().manual_seed(seed)))
    elif isinstance(init, dict):
        params = _repeat(detached(init), slots)
    else:
        raise ValueError(f"init must be a policy dict or a PolicyDistribution, got {type(init).__name__}")
    env = make_env([task for task in tasks for _ in range(samples)], episodes_per_task)
    return sample_path(env, params, inner_lr=adapt_lr, inner_steps=adapt_steps, horizon=horizon, seed=seed,
                       gamma=gamma, lam=lam, later_lr=later_adapt_lr)


def evaluate(init, tasks, *, adapt_steps: int, samples: int = 1, **options) -> torch.Tensor:
    """Mean return after 0, 1, ..., K = ``adapt_steps`` VPG steps, per task and sampled initialization
    (``adaptation_path``, whose keywords ``options`` are).

    Returns [tasks, samples, K + 1]: ``.mean(1)`` is each task's curve (the CLI's after_steps are its
    mean over tasks, ci95 1.96 std / sqrt(tasks)), ``.std(1)`` the spread across initializations.
    """
    tasks = list(tasks)
    path = adaptation_path(init, tasks, adapt_steps=adapt_steps, samples=samples, **options)
    return path.returns().T.reshape(len(tasks), samples, adapt_steps + 1)
