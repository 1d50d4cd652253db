# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: metarl-lite
#     language: python
#     name: metarl-lite
# ---

# %% [markdown]
# # 09 · Reptile and probabilistic MAML in reinforcement learning
#
# **Goal.** Chapters 03 and 04 introduced two relatives of MAML on regression: Reptile, which
# needs no second derivative, and probabilistic MAML (PLATIPUS), which learns a *distribution*
# over initializations. Chapter 06 moved MAML to reinforcement learning. This chapter moves
# the two relatives there too. By the end of it you can
#
# * state Reptile-RL ($k$ policy-gradient steps per task on fresh episodes, then
#   $\theta \leftarrow \theta + \beta \cdot \frac1n \sum_i (W_i - \theta)$) and show that with
#   $k = 1$ it is joint training by policy gradient;
# * derive what Reptile-RL follows in expectation when $k \ge 2$,
#   $k \nabla J + \frac{k(k-1)}{2} \alpha \nabla^2 J\, \nabla J$, and check, with exact expectations
#   on a tabular MDP, that its curvature term is the **exact** Hessian of the expected return, the
#   one for which MAML-RL needs the DiCE estimator;
# * write probabilistic MAML-RL: a Gaussian $\mathcal{N}(\mu, \sigma^2)$ over policy parameters,
#   reparameterized samples, a KL penalty with closed-form gradients, and show that as
#   $\sigma \to 0$ its gradient in $\mu$ becomes MAML-RL's meta-policy gradient;
# * compare MAML, first-order MAML, Reptile and probabilistic MAML on 2D navigation, and look
#   at the spread of behaviours that initializations sampled from the learned distribution
#   adapt into.
#
# ## Background
#
# We keep the symbols of chapter 06. A task $i$ is an MDP with expected return $J_i(\theta)$
# (which we **maximize**) for a policy $\pi_\theta$; $\alpha$ is the inner step size, $k$ the number
# of inner steps, $n$ the number of tasks in a meta-batch. The inner step of every algorithm in
# this chapter is MAML-RL's: sample a batch $\mathcal{D}_j$ of episodes with the current
# parameters $\phi_j$ (starting from $\phi_0 = \theta$), estimate the policy gradient
# $\hat g_j \approx \nabla J_i(\phi_j)$ from them, and step,
# $\phi_{j+1} = \phi_j + \alpha \hat g_j$. (The library's $\hat g_j$ is the vanilla policy gradient
# on normalized advantages with a linear baseline, `meta_rl.inner_step`; the exact analysis
# below uses the plain REINFORCE estimate of chapter 05.)
#
# **Reptile-RL.** Nichol, Achiam and Schulman (2018) analyzed Reptile on supervised learning. In
# RL the "minibatch" of step $j$ is a batch of fresh episodes, sampled by the policy that step
# $j$ starts from. For each task, $k$ inner steps reach $W_i = \phi_{k, i}$, and the
# initialization moves toward the average:
# $\theta \leftarrow \theta + \beta \cdot \frac1n \sum_i (W_i - \theta)$, with the outer step size
# $\beta$. Nothing is differentiated through the inner loop, and there is no trust region:
# Reptile is first order.
#
# **Probabilistic MAML-RL.** PLATIPUS (Finn, Xu & Levine 2018) has no published RL version, so
# the course specifies one (DESIGN.md; `meta_rl.PolicyDistribution`). The initialization is
# random, $\theta \sim \mathcal{N}(\mu, \mathrm{diag}\,\sigma^2)$, one entry of $\mu$ and of $\sigma$
# per policy parameter. Each task of a meta-batch draws its own
# $\theta_i = \mu + \sigma \odot \varepsilon_i$ with $\varepsilon_i \sim \mathcal{N}(0, I)$, takes one
# VPG step to $\phi_i$, and the post-update return, estimated from episodes sampled with
# $\phi_i$, is maximized over $\mu$ and $\sigma$ by Adam, minus a penalty $\lambda$ times
# $\mathrm{KL}\big(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(\perp\mu, \sigma_0^2)\big)$ that keeps
# $\sigma$ near a prior width $\sigma_0$ ($\perp$ is stop-gradient). Compared with PLATIPUS there
# is no approximate posterior $q(\theta \mid \mathcal{D}^{tr}, \mathcal{D}^{te})$ (in PLATIPUS a
# gradient step on the query data with a learned step size $\gamma_q$ and learned variance $v_q$)
# and no learned shift of the prior's mean: the KL only keeps the distribution from collapsing to
# a point. At test time one samples
# several initializations, adapts each, and reports the mean and the **spread** of what they do.
# We write $\lambda$ for the KL weight (`kl_weight` in code; the library's docstrings call it
# $\beta$, which in this chapter is Reptile's outer step size). Chapters 06 and 10 use $\lambda$ for
# GAE's parameter instead; it stays at 1 throughout this chapter and is not written.
#
# ## Key equations
#
# Reptile-RL, for task $i$ with estimates $\hat g_{j,i}$ on fresh episodes
# $\mathcal{D}_{j,i} \sim \pi_{\phi_{j,i}}$:
#
# $$W_i = \theta + \alpha \sum_{j=0}^{k-1} \hat g_{j,i}, \qquad
#   \theta \leftarrow \theta + \beta\, \frac1n \sum_{i=1}^n (W_i - \theta)
#   = \theta + \alpha\beta\, \frac1n \sum_{i=1}^n \sum_{j=0}^{k-1} \hat g_{j,i}.$$
#
# If each estimate is unbiased where it is taken, $\mathbb{E}[\hat g_j \mid \phi_j] = \nabla J(\phi_j)$,
# a Taylor expansion in $\alpha$ (step 5) gives, per task, with $H = \nabla^2 J(\theta)$,
#
# $$\mathbb{E}\Big[\frac{W - \theta}{\alpha}\Big] = k\, \nabla J + \frac{k(k-1)}{2}\, \alpha\, H \nabla J + O(\alpha^2),
#   \qquad H \nabla J = \tfrac12 \nabla_\theta \|\nabla J\|^2 = \tfrac12 \nabla_\theta\, \mathbb{E}\big[\hat g_A \cdot \hat g_B\big],$$
#
# where $\hat g_A, \hat g_B$ are estimates from two independent batches sampled with $\pi_\theta$,
# and the expectation is a function of $\theta$ that is differentiated as a whole, sampling
# distribution included: $\nabla_\theta \mathbb{E}[\cdot]$, not $\mathbb{E}[\nabla_\theta(\hat g_A \cdot \hat g_B)]$,
# which is what differentiating the product of two sampled estimates would give.
# MAML-RL's exact meta-gradient has the same two terms with other weights,
# $\nabla_\theta J(\theta + \alpha \nabla J) = \nabla J + 2\alpha H \nabla J + O(\alpha^2)$. These are
# Nichol et al.'s $k\,\text{AvgGrad} - \frac{k(k-1)}{2} \alpha\, \text{AvgGradInner}$ and
# $\text{AvgGrad} - 2\alpha\, \text{AvgGradInner}$ (chapter 03) for the loss $-J$, up to sign: with
# $L = -J$, AvgGrad $= -\nabla J$ and AvgGradInner $= (-H)(-\nabla J) = H \nabla J$, and Nichol et
# al.'s update direction is the descent direction $(\theta - W)/\alpha$, the negative of ours.
#
# Probabilistic MAML-RL, with $\phi_i(\theta) = \theta + \alpha \hat g_i(\theta)$:
#
# $$\max_{\mu, \sigma}\; \mathbb{E}_{\varepsilon}\Big[\frac1n \sum_i J_i\big(\phi_i(\mu + \sigma \odot \varepsilon_i)\big)\Big]
#   - \lambda\, \mathrm{KL}, \qquad
#   \mathrm{KL} = \sum_j \Big[\log \frac{\sigma_0}{\sigma_j} + \frac{\sigma_j^2}{2\sigma_0^2} - \frac12\Big],$$
#
# $$\frac{\partial\, \mathrm{KL}}{\partial \mu} = 0, \qquad
#   \frac{\partial\, \mathrm{KL}}{\partial \log \sigma_j} = \frac{\sigma_j^2}{\sigma_0^2} - 1, \qquad
#   \nabla_\mu \mathbb{E}_\varepsilon[F(\mu + \sigma \odot \varepsilon)] = \mathbb{E}_\varepsilon[\nabla F], \quad
#   \nabla_{\log \sigma} \mathbb{E}_\varepsilon[F(\mu + \sigma \odot \varepsilon)] = \mathbb{E}_\varepsilon[\nabla F \odot \sigma \odot \varepsilon].$$
#
# ($\mathbb{E}_\varepsilon$ is written for short: $\hat g_i$ is random too, so the objective is also
# an expectation over the episodes each inner step samples.)
#
# The derivation checks every line, in nine numbered steps: steps 1 to 5 for Reptile, 6 to 9
# for probabilistic MAML.

# %%
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.distributions import Normal, kl_divergence
from torch.func import grad, hessian, jacrev, vmap
from tqdm.auto import tqdm

from metarl_lite import seed_everything
from metarl_lite.configs import from_dict
from metarl_lite.plotting import plot_adaptation_curves, plot_learning_curves
from metarl_lite.report import normalized_score, scored_returns
from metarl_lite.rl import meta_rl, policies
from metarl_lite.rl.training import TEST_SEED, VALIDATION_SEED, evaluate, held_out_tasks, load_learner, make_learner
from metarl_lite.runs import read_column, read_config, read_metrics
from metarl_lite.tasks import RL_FAMILIES, navigation
from metarl_lite.tasks.tabular import random_mdp
from metarl_lite.widgets import adapted_trajectories, navigation_widget

rng = seed_everything(0)
chapter_start = time.perf_counter()

# %% [markdown]
# ## Derivation, part 1: Reptile in RL
#
# Steps 1 and 2 run the library on a small batch of 2D-navigation tasks (the task family of
# chapter 06: a point walks from $(0, 0)$ toward a hidden goal): 4 goals, 10 episodes per goal
# and step, a freshly initialized 2-64-64-2 tanh Gaussian policy, $\alpha = 0.5$ (the step size
# of the trained runs below: the paper's released navigation code, not the 0.1 of its App. A.2;
# chapter 06 explains the choice), $\beta = 0.7$ and $k = 3$.

# %%
ALPHA, BETA, K = 0.5, 0.7, 3
HORIZON = navigation.HORIZON
nav_tasks = navigation.sample_tasks(4, rng)
n_nav = len(nav_tasks)
nav_env = navigation.make_vec_env(nav_tasks, 10)
theta = policies.init_policy(2, 2, hidden=(64, 64), seed=0)


def policy_gradient(phi, batch):
    """Every task's policy gradient g^_i at per-task phi [n, ...] on batch (episodes, advantages): the gradient
    of sum_i J^_i(phi_i), whose phi_i part is task i's own."""
    phi = {name: value.detach().requires_grad_() for name, value in phi.items()}
    return dict(zip(phi, torch.autograd.grad(-meta_rl.inner_loss(phi, batch), list(phi.values()))))


def max_difference(a, b):
    """The largest entry of |a - b| over two parameter dicts."""
    return max((a[name] - b[name]).abs().max().item() for name in a)


# %% [markdown]
# ### Step 1. The update adds $\alpha\beta$ times the policy gradients along each path, averaged over tasks
#
# `meta_rl.sample_path` runs the inner loop for all tasks at once and records it: the parameters
# $\phi_j$ (one row per task) and the episodes $\mathcal{D}_j$ they sampled, for $j = 0, \dots, k$.
# From the recorded episodes we recompute each step, $\phi_{j+1} = \phi_j + \alpha \hat g_j$, with
# $\hat g_j$ the gradient of the VPG objective of the episodes $\mathcal{D}_j$ at our own $\phi_j$, so
# $W - \theta = \alpha \sum_{j<k} \hat g_j$ holds by construction. The checks: our $W$ is the
# path's $\phi_k$, and `meta_rl.reptile_rl_step` (same seed, so the same episodes) returns
# $\theta + \beta \cdot \frac1n \sum_i (W_i - \theta)$ as new leaf tensors, with no graph through the
# inner loop. The path's last batch $\mathcal{D}_k$, sampled with $W_i$, plays no part in the update,
# so `reptile_rl_step` never samples it (`sample_path(..., sample_adapted=False)`): Reptile pays for
# $k$ batches per iteration, and the post-update return that training reports is that of
# $\mathcal{D}_{k-1}$, after $k - 1$ steps.

# %%
path = meta_rl.sample_path(nav_env, policies.stack([meta_rl.detached(theta)] * n_nav), inner_lr=ALPHA,
                           inner_steps=K, horizon=HORIZON, seed=1)
W = policies.stack([meta_rl.detached(theta)] * n_nav)  # phi_0 = theta for every task
for episodes, adv in zip(path.episodes[:-1], path.advantages[:-1]):  # D_0, ..., D_{k-1}
    W = {name: value + ALPHA * g for (name, value), g in zip(W.items(), policy_gradient(W, (episodes, adv)).values())}
new_theta, _ = meta_rl.reptile_rl_step(theta, nav_env, horizon=HORIZON, seed=1, inner_lr=ALPHA, inner_steps=K,
                                       outer_lr=BETA)
by_hand = {name: value.detach() + BETA * (W[name] - value.detach()).mean(0) for name, value in theta.items()}
print(f"max |W - phi_k| = {max_difference(W, path.params[-1]):.1e}, "
      f"max |reptile_rl_step - theta - beta mean(W - theta)| = {max_difference(new_theta, by_hand):.1e}, "
      f"max |theta_new - theta| = {max_difference(new_theta, theta):.3f}")
assert max_difference(W, path.params[-1]) < 1e-6 and max_difference(new_theta, by_hand) < 1e-6
assert all(value.is_leaf for value in new_theta.values()), "Reptile's new theta is not differentiated through"

# %% [markdown]
# ### Step 2. With $k = 1$, Reptile-RL is joint training
#
# With one step, $W_i - \theta = \alpha \hat g_{0,i}$, so
#
# $$\theta + \beta\, \frac1n \sum_i (W_i - \theta) = \theta + \alpha\beta\, \nabla_\theta \Big[\frac1n \sum_i \hat J_i(\theta)\Big],$$
#
# one policy-gradient step of size $\alpha\beta$ on the average of the tasks' VPG objectives
# $\hat J_i$, all evaluated at the **same** $\theta$: joint training, the objective of the
# `pretrain` baseline (which the course trains with TRPO). Nothing in it rewards being easy to
# adapt. The check: `reptile_rl_step` with `inner_steps=1` against that step, on the same
# episodes.

# %%
new_k1, _ = meta_rl.reptile_rl_step(theta, nav_env, horizon=HORIZON, seed=2, inner_lr=ALPHA, inner_steps=1,
                                    outer_lr=BETA)
path_k1 = meta_rl.sample_path(nav_env, policies.stack([meta_rl.detached(theta)] * n_nav), inner_lr=ALPHA,
                              inner_steps=1, horizon=HORIZON, seed=2)
shared = {name: value.detach().requires_grad_() for name, value in theta.items()}  # one theta, used by every task
mean_objective = -meta_rl.inner_loss(policies.stack([shared] * n_nav), (path_k1.episodes[0], path_k1.advantages[0])) / n_nav
joint_step = {name: value + ALPHA * BETA * g
              for (name, value), g in zip(shared.items(), torch.autograd.grad(mean_objective, list(shared.values())))}
print(f"max |Reptile (k = 1) - joint policy-gradient step| = {max_difference(new_k1, joint_step):.1e} "
      f"(the step itself moves theta by up to {max_difference(joint_step, theta):.3f})")
assert max_difference(new_k1, joint_step) < 1e-6 < max_difference(joint_step, theta)

# %% [markdown]
# ### Step 3. Exact expectations on tabular MDPs, and the one assumption
#
# To see what Reptile-RL follows *on average*, we need the expectation over every batch of
# episodes that the inner loop could sample. On the tabular MDPs of chapter 06 that is a finite
# sum. The tasks are three random MDPs with 2 states, 2 actions and horizon 2 (`random_mdp`
# with seeds 1, 2, 3: different dynamics and rewards, the same states and actions), $\gamma = 1$,
# and one softmax policy with logits $\theta \in \mathbb{R}^{2 \times 2}$, one per state and action,
# shared by both time steps $t = 0, 1$. A batch is one episode $\tau$, one of 16, and its
# estimate is REINFORCE with rewards-to-go, $\hat g(\tau) = \sum_t \nabla \ell_t R_t$ with
# $\ell_t = \log \pi_\theta(a_t \mid s_t)$ and $R_t = \sum_{t' \ge t} r_{t'}$ (chapter 05). Then an
# inner path $\phi_0 \to \phi_1 \to \dots$ is a random walk with finitely many values: $16^j$
# branches after $j$ steps, each with its probability.
#
# The derivation rests on one property: an estimate taken at $\phi_j$ from episodes sampled
# **by** $\pi_{\phi_j}$ is unbiased there, $\mathbb{E}[\hat g_j \mid \phi_j] = \nabla J(\phi_j)$. In
# supervised Reptile the minibatches are drawn independently of the path; in RL the data of
# step $j$ depend on where the path has gone, and unbiasedness at the current point is what
# survives. The check: $\sum_\tau p_\phi(\tau)\, \hat g(\tau) = \nabla J(\phi)$ exactly, at $\theta$ and at
# a point one sampled step away. (The library's normalized advantages rescale each step by a
# data-dependent factor, so for its inner step the results below hold only approximately.)

# %%
# NBVAL_CHECK_OUTPUT
mdps = [random_mdp(2, 2, 2, seed=s) for s in (1, 2, 3)]
logits = torch.as_tensor(rng.standard_normal((2, 2)))  # theta of the tabular policy, [S, A]
D = logits.numel()


def value_of(mdp):
    """theta -> J(theta), the exact expected return (gamma = 1) by the backward recursion."""
    return lambda th: mdp.value(th)


def episode_model(mdp):
    """th -> (p_th(tau) [16], g(tau) [16, S, A]): every one-episode batch of the task, with its
    probability and its REINFORCE estimate sum_t grad l_t R_t (gamma = 1), as a torch.func-friendly function."""
    tau = mdp.trajectories(logits)  # the list of trajectories; only their probabilities depend on the policy
    reward_to_go = tau.rewards.flip(1).cumsum(1).flip(1)

    def log_probs(th):
        return mdp.log_probs(th, tau.states, tau.actions)  # [16, H]

    log_environment = tau.probs.log() - log_probs(logits).sum(1)  # log rho(s_0) + sum_t log P(s_t+1 | s_t, a_t)

    def model(th):
        return (torch.exp(log_environment + log_probs(th).sum(1)),
                torch.einsum("nt,nt...->n...", reward_to_go, jacrev(log_probs)(th)))

    return model


models = [episode_model(mdp) for mdp in mdps]
for mdp, model in zip(mdps, models):
    probs, estimates = model(logits)
    phi_1 = logits + ALPHA * estimates[3]  # one sampled step away (episode 3)
    probs_1, estimates_1 = model(phi_1)
    assert torch.allclose(probs, mdp.trajectories(logits).probs, rtol=0, atol=1e-15)
    assert torch.allclose(torch.einsum("n,n...->...", probs, estimates), grad(value_of(mdp))(logits), rtol=0, atol=1e-14)
    assert torch.allclose(torch.einsum("n,n...->...", probs_1, estimates_1), grad(value_of(mdp))(phi_1),
                          rtol=0, atol=1e-14)
print(f"{len(mdps)} tasks, {len(probs)} one-episode batches each; E[g^ | phi] = grad J(phi) at theta and at phi_1")

# %% [markdown]
# ### Step 4. The curvature term rewards agreement between batches
#
# The expansion of step 5 produces the vector $H \nabla J$, $H = \nabla^2 J(\theta)$. By the chain
# rule it is half the gradient of the squared norm of the policy gradient,
# $\nabla_\theta \|\nabla J\|^2 = 2 H \nabla J$. And since two batches $A$ and $B$ sampled
# independently with $\pi_\theta$ give independent unbiased estimates,
# $\|\nabla J\|^2 = \mathbb{E}[\hat g_A]\cdot\mathbb{E}[\hat g_B] = \mathbb{E}[\hat g_A \cdot \hat g_B]$. Ascending
# along $H \nabla J$ therefore raises the expected inner product of the gradients of two
# *different* batches, which is exactly the squared norm of the expected gradient: it moves
# $\theta$ to where the return is more sensitive to the parameters, so that a step on one batch
# also improves the return measured on another. Nichol et al. call this term AvgGradInner and
# read it as "gradient agreement"; note that it does not reduce the disagreement between batches
# (their variance): with the *same* batch twice, $\mathbb{E}[\hat g_A \cdot \hat g_A]$ adds
# that variance, and independent batches leave it out by construction (the cell prints both).
# The checks, exactly, for each task: $H \nabla J$ against autograd of $\frac12 \|\nabla J\|^2$, and the
# double sum over pairs of episodes against $\|\nabla J\|^2$.

# %%
# NBVAL_CHECK_OUTPUT
for i, (mdp, model) in enumerate(zip(mdps, models)):
    J = value_of(mdp)
    gradient, H = grad(J)(logits).reshape(D), hessian(J)(logits).reshape(D, D)
    half_squared_norm = grad(lambda th: 0.5 * (grad(J)(th) ** 2).sum())(logits).reshape(D)
    probs, estimates = model(logits)
    estimates = estimates.reshape(-1, D)
    different = torch.einsum("a,b,ai,bi->", probs, probs, estimates, estimates)  # E[g_A . g_B], A and B independent
    same = torch.einsum("a,ai,ai->", probs, estimates, estimates)  # E[g_A . g_A]
    assert torch.allclose(H @ gradient, half_squared_norm, rtol=0, atol=1e-14)
    assert torch.allclose(different, gradient @ gradient, rtol=0, atol=1e-14)
    print(f"task {i}: |grad J|^2 = E[g_A . g_B] = {different:.4f}, E[g_A . g_A] = {same:.4f}, "
          f"|H grad J| = {(H @ gradient).norm():.4f}")

# %% [markdown]
# ### Step 5. Reptile-RL in expectation: $k \nabla J + \frac{k(k-1)}{2} \alpha H \nabla J$, with the exact $H$
#
# Expand the gradient at the $j$-th point of the path around $\theta$:
# $\nabla J(\phi_j) = \nabla J + H (\phi_j - \theta) + O(\|\phi_j - \theta\|^2)$, with
# $\phi_j - \theta = \alpha \sum_{l<j} \hat g_l$. By step 3, $\mathbb{E}[\hat g_j] = \mathbb{E}[\nabla J(\phi_j)]$,
# and $\mathbb{E}[\hat g_l] = \nabla J + O(\alpha)$, so
#
# $$\mathbb{E}[\hat g_j] = \nabla J + j\, \alpha\, H \nabla J + O(\alpha^2), \qquad
#   \mathbb{E}\Big[\sum_{j<k} \hat g_j\Big] = k\, \nabla J + \frac{k(k-1)}{2}\, \alpha\, H \nabla J + O(\alpha^2).$$
#
# Three things to notice. For $k = 1$ the second term vanishes (step 2). For $k = 2$ the weights
# are $2$ and $\alpha$; MAML-RL with an exact inner step weighs the same two vectors $1$ and
# $2\alpha$: per unit of $\nabla J$, MAML pushes four times harder toward gradient agreement than
# Reptile with $k = 2$. And the $H$ here is the **exact** Hessian $H_1 + H_2 + H_{12} + H_{12}^\top$
# of chapter 06, whose terms are $H_1 = \mathbb{E}[\sum_t \nabla \ell_t \nabla \ell_t^\top R_t]$,
# $H_2 = \mathbb{E}[\sum_t \nabla^2 \ell_t R_t]$ and
# $H_{12} = \mathbb{E}[\sum_t (\sum_{t' < t} \nabla \ell_{t'}) \nabla \ell_t^\top R_t]$. Reptile never
# differentiates a surrogate twice; the fresh episodes of step $j$, sampled by $\pi_{\phi_j}$, carry
# the dependence of the data on the parameters. MAML-RL's meta-gradient with the textbook `loglik`
# estimator has $H_2$ alone in the Jacobian $I + \alpha \hat H$ of its inner step, while the
# gradient at the adapted point still brings the exact $H$: its order-$\alpha$ term is
# $\alpha (H + H_2) \nabla J$, not $2 \alpha H \nabla J$.
#
# The checks use the exact expectation over every sequence of $k$ one-episode batches ($16^k$ of
# them: 256 for $k = 2$, 4096 for $k = 3$), averaged over the three tasks. If the formula is
# right, what it leaves out must shrink like $\alpha^2$ (slope 2 on a log-log plot); with $H_2$,
# `loglik`'s expected Hessian, in place of $H$, the error must shrink only like $\alpha$ (slope 1). MAML-RL's
# expansion, computed by autodiff through the exact $J(\theta + \alpha \nabla J(\theta))$, is checked
# the same way.

# %%
def expected_reptile_direction(model, th, alpha, k):
    """E[(W - theta) / alpha] = E[g^_0 + ... + g^_{k-1}] over every sequence of one-episode batches, exactly.

    The points phi_j of all branches are kept as a batch [B, S, A] with their probabilities [B]."""
    weights, points = torch.ones(1, dtype=th.dtype), th[None]
    direction = torch.zeros_like(th)
    for _ in range(k):
        probs, estimates = vmap(model)(points)  # [B, 16], [B, 16, S, A]
        probs = probs * weights[:, None]  # probability of reaching the branch and then sampling episode tau
        direction = direction + torch.einsum("bn,bn...->...", probs, estimates)
        weights, points = probs.reshape(-1), (points[:, None] + alpha * estimates).reshape(-1, *th.shape)
    return direction.reshape(D)


def loglik_hessian(mdp):
    """H2 = E[sum_t hess l_t R_t], the expected Hessian of the loglik surrogate (chapter 06, step 6)."""
    tau = mdp.trajectories(logits)
    reward_to_go = tau.rewards.flip(1).cumsum(1).flip(1)
    return hessian(lambda th: torch.einsum("n,nt,nt->", tau.probs, reward_to_go,
                                           mdp.log_probs(th, tau.states, tau.actions)))(logits).reshape(D, D)


gradients = [grad(value_of(mdp))(logits).reshape(D) for mdp in mdps]
hessians = [hessian(value_of(mdp))(logits).reshape(D, D) for mdp in mdps]
alignment = torch.stack([H @ g for H, g in zip(hessians, gradients)]).mean(0)  # mean_i H_i grad J_i
alignment_h2 = torch.stack([loglik_hessian(mdp) @ g for mdp, g in zip(mdps, gradients)]).mean(0)
avg_grad = torch.stack(gradients).mean(0)


def exact_maml_gradient(mdp, alpha):
    """grad_theta J(theta + alpha grad J(theta)), the exact one-step MAML-RL meta-gradient (chapter 06, step 3)."""
    J = value_of(mdp)
    return grad(lambda th: J(th + alpha * grad(J)(th)))(logits).reshape(D)


alphas = np.logspace(-3, -1, 5)
remainders = {"Reptile, k = 2": [], "Reptile, k = 3": [], "Reptile, k = 2, with H2 for H": [],
              "MAML-RL (exact inner step)": []}
for a in alphas:
    reptile = {k: torch.stack([expected_reptile_direction(m, logits, a, k) for m in models]).mean(0) for k in (2, 3)}
    maml = torch.stack([exact_maml_gradient(mdp, a) for mdp in mdps]).mean(0)
    remainders["Reptile, k = 2"].append((reptile[2] - (2 * avg_grad + a * alignment)).norm().item())
    remainders["Reptile, k = 3"].append((reptile[3] - (3 * avg_grad + 3 * a * alignment)).norm().item())
    remainders["Reptile, k = 2, with H2 for H"].append((reptile[2] - (2 * avg_grad + a * alignment_h2)).norm().item())
    remainders["MAML-RL (exact inner step)"].append((maml - (avg_grad + 2 * a * alignment)).norm().item())

slopes = {name: np.polyfit(np.log(alphas), np.log(errors), 1)[0] for name, errors in remainders.items()}
fig, ax = plt.subplots(figsize=(7, 4.5))
for (name, errors), marker in zip(remainders.items(), "os^d"):
    ax.loglog(alphas, errors, marker=marker, linestyle="--" if "H2" in name else "-",
              label=f"{name} (slope {slopes[name]:.2f})")
ax.set_xlabel("inner step size alpha")
ax.set_ylabel("| expected direction - formula |")
ax.set_title("Taylor expansion in RL: the remainder is O(alpha^2) only with the exact Hessian")
ax.legend(fontsize="small")
plt.show()
print(f"|mean H grad J - mean H2 grad J| / |mean H grad J| = {(alignment - alignment_h2).norm() / alignment.norm():.2f}")
for name, slope in slopes.items():
    assert (0.9 < slope < 1.1) if "H2" in name else (1.9 < slope < 2.1), (name, slope)

# %% [markdown]
# The solid lines have slope 2: the formulas capture everything of order $\alpha$, for $k = 2$ and
# $k = 3$ and for MAML-RL. The dashed line has slope 1: with `loglik`'s $H_2$ the order-$\alpha$ term is
# wrong, by the fraction printed above. Reptile-RL gets the whole Hessian without computing any
# Hessian.
#
# ## Derivation, part 2: probabilistic MAML in RL
#
# ### Step 6. Sampling initializations by reparameterization
#
# `meta_rl.PolicyDistribution(theta, prior_std=sigma_0, init_std=...)` holds $\mu$ (initialized at
# $\theta$) and $\log \sigma$, one entry per policy parameter, as leaf tensors; `sample(n, generator)`
# returns $n$ draws $\theta_m = \mu + \sigma \odot \varepsilon_m$ stacked along a leading dimension,
# ready for the sampler. Written this way the draw is a differentiable function of $\mu$ and
# $\log \sigma$ with a parameter-free noise $\varepsilon$:
# $\partial \theta_m / \partial \mu = I$ and $\partial \theta_m / \partial \log \sigma = \mathrm{diag}(\sigma \odot \varepsilon_m)$.
# The checks, on a small policy (2-8-2) in float64: the draws against $\mu + \sigma \odot \varepsilon$ with
# $\varepsilon$ from the same generator, the gradients of a weighted sum of the draws against those
# Jacobians, and the mean and standard deviation of 50 000 draws against $\mu$ and $\sigma$ (within
# 4.5 standard errors, entry by entry).

# %%
small = policies.init_policy(2, 2, hidden=(8,), seed=1, dtype=torch.float64)
dist = meta_rl.PolicyDistribution(small, prior_std=0.1, init_std=0.2)
with torch.no_grad():  # give every entry its own sigma
    for log_sigma in dist.log_sigma.values():
        log_sigma.add_(torch.as_tensor(rng.uniform(-0.5, 0.5, log_sigma.shape)))

draws = dist.sample(3, torch.Generator().manual_seed(7))
noise_generator = torch.Generator().manual_seed(7)
noise = {name: torch.randn((3, *mu.shape), generator=noise_generator, dtype=mu.dtype) for name, mu in dist.mu.items()}
weights = {name: torch.as_tensor(rng.standard_normal(draw.shape)) for name, draw in draws.items()}
weighted = sum((weights[name] * draw).sum() for name, draw in draws.items())
gradients_of_draws = torch.autograd.grad(weighted, dist.parameters())  # [mu tensors..., log sigma tensors...]
grad_mu, grad_log_sigma = gradients_of_draws[:len(dist.mu)], gradients_of_draws[len(dist.mu):]
for (name, mu), g_mu, g_log_sigma in zip(dist.mu.items(), grad_mu, grad_log_sigma):
    sigma = dist.log_sigma[name].exp()
    assert torch.allclose(draws[name], mu + sigma * noise[name], rtol=0, atol=1e-15)
    assert torch.allclose(g_mu, weights[name].sum(0), rtol=0, atol=1e-14)
    assert torch.allclose(g_log_sigma, (weights[name] * sigma * noise[name]).sum(0), rtol=0, atol=1e-14)

many = meta_rl.detached(dist.sample(50_000, torch.Generator().manual_seed(8)))
worst = 0.0
for name, values in many.items():
    mu, sigma = dist.mu[name].detach(), dist.log_sigma[name].detach().exp()
    z_mean = (values.mean(0) - mu) / (sigma / math.sqrt(len(values)))
    z_std = (values.std(0) - sigma) / (sigma / math.sqrt(2 * len(values)))  # the standard error of a Gaussian's std
    worst = max(worst, z_mean.abs().max().item(), z_std.abs().max().item())
print(f"{sum(v.numel() for v in dist.mu.values())} parameters; largest |z| of the sample means and stds: {worst:.2f}")
assert worst < 4.5

# %% [markdown]
# ### Step 7. The KL to $\mathcal{N}(\perp\mu, \sigma_0^2)$ and its gradients
#
# For diagonal Gaussians (chapter 04, step 2)
# $\mathrm{KL}(\mathcal{N}(m_q, v_q) \,\|\, \mathcal{N}(m_p, v_p)) = \frac12 \sum_j \big[\log \frac{v_{p,j}}{v_{q,j}} + \frac{v_{q,j} + (m_{q,j} - m_{p,j})^2}{v_{p,j}} - 1\big]$.
# With $m_q = \mu$, $m_p = \perp\mu$, $v_q = \sigma^2$ and $v_p = \sigma_0^2$ the mean term is
# $(\mu - \perp\mu)^2 = 0$ in value *and* in gradient ($2(\mu - \perp\mu) = 0$), and what remains is
#
# $$\mathrm{KL} = \sum_j \Big[\log \frac{\sigma_0}{\sigma_j} + \frac{\sigma_j^2}{2\sigma_0^2} - \frac12\Big], \qquad
#   \frac{\partial\, \mathrm{KL}}{\partial \mu} = 0, \qquad
#   \frac{\partial\, \mathrm{KL}}{\partial \log \sigma_j} = \frac{\sigma_j^2}{\sigma_0^2} - 1 .$$
#
# The penalty never moves $\mu$; it pulls each $\sigma_j$ toward $\sigma_0$, where it is 0 with zero
# gradient, and it grows without bound as $\sigma_j \to 0$ (like $-\log \sigma_j$): it is what keeps
# the distribution from collapsing to MAML's single point. The checks: `kl_to_prior()` against
# the closed form and against `torch.distributions.kl_divergence` (not against chapter 04's
# `gaussian_kl`, which `kl_to_prior` calls: that would compare the function with itself); its
# gradients by autograd against the formulas; and its value and gradient at $\sigma = \sigma_0$.

# %%
kl = dist.kl_to_prior()
sigma_0 = dist.prior_std
sigmas = {name: value.exp() for name, value in dist.log_sigma.items()}
closed_form = sum((math.log(sigma_0) - s.log() + s**2 / (2 * sigma_0**2) - 0.5).sum() for s in sigmas.values())
torch_kl = sum(kl_divergence(Normal(dist.mu[k], s), Normal(dist.mu[k].detach(), sigma_0)).sum() for k, s in sigmas.items())
for other in (closed_form, torch_kl):
    assert torch.allclose(kl, other, rtol=1e-13, atol=0)
kl_grad_mu = torch.autograd.grad(kl, list(dist.mu.values()), retain_graph=True, allow_unused=True, materialize_grads=True)
kl_grad_log_sigma = torch.autograd.grad(kl, list(dist.log_sigma.values()))
assert all((g == 0).all() for g in kl_grad_mu)
for g, s in zip(kl_grad_log_sigma, sigmas.values()):
    assert torch.allclose(g, s**2 / sigma_0**2 - 1, rtol=0, atol=1e-13)

at_prior = meta_rl.PolicyDistribution(small, prior_std=sigma_0)  # init_std defaults to sigma_0
kl_0 = at_prior.kl_to_prior()
assert abs(kl_0.item()) < 1e-12
assert all(g.abs().max() < 1e-12 for g in torch.autograd.grad(kl_0, list(at_prior.log_sigma.values())))
print(f"KL = {kl.item():.6f} (closed form {closed_form.item():.6f}, torch {torch_kl.item():.6f}); "
      f"dKL/dmu = 0; dKL/dlog sigma = sigma^2 / sigma_0^2 - 1 in [{min(g.min().item() for g in kl_grad_log_sigma):.2f}, "
      f"{max(g.max().item() for g in kl_grad_log_sigma):.2f}]; KL = 0 at sigma = sigma_0")

# %% [markdown]
# ### Step 8. The reparameterized gradient of the post-update return
#
# The objective averages a function $F$ of the sampled $\theta$, here the post-update return
# $F(\theta) = J(\phi(\theta))$. With $\theta = \mu + \sigma \odot \varepsilon$ the expectation is over
# $\varepsilon$, which does not depend on $(\mu, \log\sigma)$, so the gradient moves inside (the
# **pathwise** or reparameterized gradient, Kingma & Welling 2014):
#
# $$\nabla_\mu \mathbb{E}[F] = \mathbb{E}_\varepsilon[\nabla F(\theta)], \qquad
#   \nabla_{\log\sigma} \mathbb{E}[F] = \mathbb{E}_\varepsilon[\nabla F(\theta) \odot \sigma \odot \varepsilon].$$
#
# The alternative is the **score-function** gradient, which differentiates the density instead
# of the sample, $\nabla \mathbb{E}[F] = \mathbb{E}[F(\theta)\, \nabla \log q(\theta)]$, with
# $\nabla_\mu \log q = (\theta - \mu)/\sigma^2 = \varepsilon / \sigma$ and
# $\nabla_{\log \sigma} \log q = \varepsilon^2 - 1$. Both are unbiased; they differ in variance.
#
# On the tabular MDP of task 0 with an exact inner step, $F(\theta) = J(\theta + \alpha \nabla J(\theta))$
# with $\alpha = 1$, and `PolicyDistribution` over the logits ($\sigma_0 = 0.1$, $\sigma$ around $0.3$,
# $\lambda = 0.5$). The checks: (a) the autograd gradient of the sampled objective
# $\frac1M \sum_m F(\theta_m) - \lambda\, \mathrm{KL}$ ($M = 1000$, the noise held fixed) against central
# finite differences of the same sampled objective along a random direction: equal up to the
# finite-difference error; (b) the reparameterized and the score-function estimates from
# 20 000 draws agree within 4 standard errors of their difference (computed from the paired
# per-draw differences, since both estimates use the same draws $\varepsilon$), and the score
# function's variance is larger, entry by entry.

# %%
mdp_0 = mdps[0]
J_0 = value_of(mdp_0)


def post_update_return(th):
    """F(theta) = J(theta + alpha grad J(theta)) with alpha = 1: the return after an exact inner step."""
    return J_0(th + 1.0 * grad(J_0)(th))


KL_WEIGHT = 0.5
tabular = meta_rl.PolicyDistribution({"logits": logits}, prior_std=0.1, init_std=0.3)
with torch.no_grad():
    tabular.log_sigma["logits"].add_(torch.as_tensor(rng.uniform(-0.3, 0.3, (2, 2))))
parameters = tabular.parameters()  # [mu, log sigma]


def sampled_objective(samples=1000):
    """(1/M) sum_m F(mu + sigma eps_m) - lambda KL, with the same eps at every call (common random numbers)."""
    thetas = tabular.sample(samples, torch.Generator().manual_seed(0))["logits"]
    return vmap(post_update_return)(thetas).mean() - KL_WEIGHT * tabular.kl_to_prior()


autograd_gradient = torch.autograd.grad(sampled_objective(), parameters)
direction = [torch.as_tensor(rng.standard_normal(p.shape)) for p in parameters]
h = 1e-5
with torch.no_grad():
    values = []
    for sign in (1, -1):
        for p, d in zip(parameters, direction):
            p.add_(sign * h * d)
        values.append(sampled_objective())
        for p, d in zip(parameters, direction):
            p.sub_(sign * h * d)
finite_difference = (values[0] - values[1]) / (2 * h)
directional = sum((g * d).sum() for g, d in zip(autograd_gradient, direction))
print(f"(a) directional derivative: autograd {directional:.10f}, central differences {finite_difference:.10f}")
assert torch.allclose(directional, finite_difference, rtol=1e-8, atol=0)

M = 20_000
mu, sigma = (tabular.mu["logits"].detach(), tabular.log_sigma["logits"].detach().exp())
eps = torch.randn((M, 2, 2), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
F_values, grad_F = vmap(post_update_return)(mu + sigma * eps), vmap(grad(post_update_return))(mu + sigma * eps)
pathwise = torch.cat([grad_F.reshape(M, -1), (grad_F * sigma * eps).reshape(M, -1)], dim=1)  # [M, 2D]
score = torch.cat([(F_values[:, None, None] * eps / sigma).reshape(M, -1),
                   (F_values[:, None, None] * (eps**2 - 1)).reshape(M, -1)], dim=1)
difference = pathwise - score  # paired: both estimates use the same eps, so they are not independent
z = difference.mean(0) / (difference.var(0) / M).sqrt()
variance_ratio = score.var(0) / pathwise.var(0)
print(f"(b) d/d(mu, log sigma) of E[F]: pathwise {pathwise.mean(0).numpy().round(4)}")
print(f"                             score fn. {score.mean(0).numpy().round(4)}")
print(f"    largest |z| {z.abs().max():.2f}; variance ratio score / pathwise from {variance_ratio.min():.0f} "
      f"to {variance_ratio.max():.0f}")
assert z.abs().max() < 4 and (variance_ratio > 10).all()

# %% [markdown]
# With the same number of draws the score-function estimate has between ten and tens of
# thousands of times the variance of the pathwise one here (printed). That is why probabilistic MAML reparameterizes the *initialization*. (The inner
# and outer policy gradients themselves are score-function estimates over the actions, as in
# every policy-gradient method: the environment is not differentiable.)
#
# ### Step 9. As $\sigma \to 0$, the gradient in $\mu$ is MAML-RL's meta-policy gradient
#
# `meta_rl.pmaml_rl_step` draws $\theta_i = \mu + \sigma \odot \varepsilon_i$ for each task, samples and
# adapts exactly as MAML-RL does (`sample_path`, then the differentiable `adapted`), and takes an
# optimizer step on $-(L(\phi(\theta)) - \lambda\, \mathrm{KL})$, where $L$ is the post-update surrogate
# of chapter 06 (`post_update_surrogate`; its gradient is the policy gradient of the post-update
# return). By the chain rule, $\nabla_\mu = \sum_i \nabla_{\theta_i}$, and at $\sigma = 0$ every
# $\theta_i = \mu$: the $\mu$-gradient becomes MAML-RL's meta-policy gradient
# $\nabla_\theta L(\phi(\theta))$ at $\theta = \mu$ (the gradient of `meta_rl.meta_surrogate`, from
# which `maml_rl_step` builds its TRPO step), with the same estimator and, at $\sigma = 0$, the same sampled episodes (with the same seeds,
# the episodes approach MAML's as $\sigma \to 0$). The
# check runs one `pmaml_rl_step` with plain SGD of step 1, which turns the change of $\mu$ into the
# gradient, and $\sigma = \sigma_0$ (the KL never moves $\mu$, whatever $\sigma$ is; starting at
# $\sigma_0$ is simply how `PolicyDistribution` sets $\sigma$ by default): the relative distance to
# MAML-RL's meta-gradient shrinks in proportion to $\sigma$ (slope 1).

# %%
def pmaml_mu_gradient(std, seed=3):
    """The mu-gradient of one pmaml_rl_step on nav_env, with sigma = sigma_0 = std (read off an SGD step of size 1)."""
    distribution = meta_rl.PolicyDistribution(theta, prior_std=std)
    before = {name: value.detach().clone() for name, value in distribution.mu.items()}
    optimizer = torch.optim.SGD(distribution.parameters(), lr=1.0)
    meta_rl.pmaml_rl_step(distribution, optimizer, nav_env, horizon=HORIZON, seed=seed, inner_lr=ALPHA)
    return torch.cat([(distribution.mu[name].detach() - before[name]).reshape(-1) for name in before])


def maml_meta_gradient(seed):
    """MAML-RL's meta-gradient at theta on one meta-batch of nav_env sampled with `seed`."""
    path = meta_rl.sample_path(nav_env, policies.stack([meta_rl.detached(theta)] * n_nav), inner_lr=ALPHA,
                               horizon=HORIZON, seed=seed)
    leaves = {name: value.detach().requires_grad_() for name, value in theta.items()}
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        meta_rl.meta_surrogate(leaves, path, inner_lr=ALPHA), list(leaves.values()))])


maml_gradient = maml_meta_gradient(seed=3)
stds = np.array([1e-3, 1e-4, 1e-5])
distances = np.array([((pmaml_mu_gradient(s) - maml_gradient).norm() / maml_gradient.norm()).item() for s in stds])
slope = np.polyfit(np.log(stds), np.log(distances), 1)[0]
for s, d in zip(stds, distances):
    print(f"sigma = sigma_0 = {s:.0e}: |grad_mu - MAML-RL meta-gradient| / |MAML-RL meta-gradient| = {d:.1e}")
distance_at_prior = ((pmaml_mu_gradient(0.1) - maml_gradient).norm() / maml_gradient.norm()).item()
print(f"slope {slope:.2f}; at sigma = sigma_0 = 0.1 the relative distance is {distance_at_prior:.2f}")
assert 0.9 < slope < 1.1 and distances[-1] < 1e-3 and distance_at_prior > 0.5
other_batch = ((maml_meta_gradient(seed=4) - maml_gradient).norm() / maml_gradient.norm()).item()
print(f"MAML-RL's own meta-gradient on another meta-batch (seed 4) is at relative distance {other_batch:.2f}")
assert 0.1 * distance_at_prior < other_batch < distance_at_prior, "batch noise is part of the distance, not all"

# %% [markdown]
# At $\sigma = 0.1$, the prior width of the trained runs below, the gradient of one meta-batch is
# far from MAML-RL's (the second-to-last line printed above). Part of this distance is the noise
# of one-batch estimates: the draws $\theta_i$ sample other episodes than MAML's, and MAML-RL's own
# meta-gradient on another meta-batch is a fair part of that distance away (the last line). The
# rest is the draws themselves: each task's gradient is taken at its own $\theta_i$, a policy
# $\sigma\varepsilon_i$ away from $\mu$, and with one draw per task the term linear in
# $\varepsilon$ does not average out (the distance grows like $\sigma$), although in expectation
# it does, and smoothing changes the *expected* gradient only at order $\sigma^2$. What the gradient
# estimates is that of a *smoothed* objective $\mathbb{E}_\varepsilon[J(\phi(\mu + \sigma\varepsilon))]$, from
# one draw per task. Probabilistic MAML-RL is MAML-RL with its initialization blurred by
# $\sigma$, an Adam step in place of TRPO, and a penalty that keeps the blur from vanishing.
#
# ## Pseudocode
#
# Reptile-RL (batched; `meta_rl.reptile_rl_step`, one iteration):
#
# ```
# input: tasks T_1..T_n, theta, inner step size alpha, outer step size beta, k > 1
# for each task T_i (all at once in one vectorized environment):
#     phi = theta
#     for j = 0 ... k-1:
#         sample episodes D_j of T_i with pi_phi          (fresh each step)
#         phi = phi + alpha * policy_gradient(D_j)        (VPG, normalized GAE advantages)
#     W_i = phi
# theta = theta + beta * (1/n) sum_i (W_i - theta)        (no gradient through W_i)
# ```
#
# Probabilistic MAML-RL (`meta_rl.pmaml_rl_step`, one iteration; `evaluate` at test time):
#
# ```
# input: tasks T_1..T_n, mu, log sigma, prior width sigma_0, KL weight lambda, alpha, an optimizer (Adam)
# for each task T_i:
#     eps_i ~ N(0, I);  theta_i = mu + sigma * eps_i        (reparameterized)
#     sample episodes D_i of T_i with pi_theta_i
#     phi_i = theta_i + alpha * policy_gradient(D_i)        (kept differentiable in theta_i)
#     sample episodes D'_i of T_i with pi_phi_i
# objective = mean_i L(phi_i; D'_i) - lambda * KL(N(mu, sigma^2) || N(stopgrad(mu), sigma_0^2))
# one optimizer step on (mu, log sigma) to maximize the objective
#
# test time, for a new task: draw theta_1..theta_m ~ N(mu, sigma^2), adapt each,
#                            report the mean return and its spread across the m initializations
# ```
#
# ## Library call
#
# ```python
# theta, metrics = meta_rl.reptile_rl_step(theta, env, horizon=horizon, seed=s, inner_lr=alpha,
#                                          inner_steps=k, outer_lr=beta)
# dist = meta_rl.PolicyDistribution(theta, prior_std=sigma_0)      # mu = theta, sigma = sigma_0
# optimizer = torch.optim.Adam(dist.parameters(), lr=3e-3)
# metrics = meta_rl.pmaml_rl_step(dist, optimizer, env, horizon=horizon, seed=s, inner_lr=alpha,
#                                 kl_weight=lam)                   # updates dist in place
# returns = meta_rl.evaluate(dist, tasks, make_env=navigation.make_vec_env, adapt_steps=3,
#                            adapt_lr=alpha, later_adapt_lr=alpha / 2, episodes_per_task=40,
#                            horizon=horizon, seed=0, samples=5)   # [tasks, samples, 4]
# ```
#
# `env` is `make_vec_env(tasks, episodes_per_task)` of the task family; the command-line tool
# wraps all of this (`metarl-lite train --algo reptile|pmaml --task nav2d --config paper --out DIR`,
# then `metarl-lite evaluate DIR --adapt-steps 3`).
#
# ## Experiment: MAML, FOMAML, Reptile and probabilistic MAML on 2D navigation
#
# The runs of `results/nav2d`, made by `bash results/reproduce.sh nav2d` with the `paper`
# configuration: 200 meta-iterations of 20 tasks × 20 episodes, $\alpha = 0.5$, the (64, 64) tanh
# policy. MAML and FOMAML take one inner step and a TRPO outer step (chapter 06); Reptile takes
# $k = 3$ inner steps and the plain update with $\beta = 1$; probabilistic MAML takes one inner
# step and Adam, with $\sigma_0 = 0.1$ and $\lambda = 10^{-3}$. The pretrained policy (joint training
# by TRPO, no inner step) optimizes the objective that Reptile with $k = 1$ reduces to; it samples
# 40 tasks × 20 episodes per iteration: without an inner step it samples one batch per task where
# MAML samples two, and twice the tasks give it MAML's budget of environment steps. The
# meta-learners are compared at equal iterations, not equal samples: Reptile's three batches per
# task are 1.5 times MAML's episodes per iteration. The next
# cell prints each run's settings. Set `RECOMPUTE = True` to train every run with the `quick`
# configuration (20 iterations of 10 tasks × 10 episodes, the pretrained policy 20 tasks,
# $\alpha = 0.1$; several minutes) into a temporary folder instead; the comparisons below are then
# computed live on 10 tasks, and only the claims that do not depend on the long runs are
# asserted.

# %%
RECOMPUTE = False

# %%
# NBVAL_IGNORE_OUTPUT
METHODS = {"maml": "MAML", "fomaml": "FOMAML", "reptile": "Reptile (k = 3)", "pmaml": "probabilistic MAML",
           "pretrain": "pretrained (joint)"}
RUNS = {algo: Path("../results/nav2d") / algo for algo in METHODS}
if RECOMPUTE:
    scratch = Path(tempfile.mkdtemp())
    for algo in METHODS:
        RUNS[algo] = scratch / algo
        subprocess.run([sys.executable, "-m", "metarl_lite.cli", "train", "--algo", algo, "--task", "nav2d",
                        "--config", "quick", "--out", str(RUNS[algo]), "--quiet"], check=True)

run_configs = {algo: from_dict(read_config(run)) for algo, run in RUNS.items()}
training_curves = {algo: read_metrics(run) for algo, run in RUNS.items()}
for algo, c in run_configs.items():
    extra = {"reptile": f"alpha = {c.inner_lr}, k = {c.inner_steps}, beta = {getattr(c, 'outer_lr', None)}",
             "pmaml": f"alpha = {c.inner_lr}, sigma_0 = {getattr(c, 'prior_std', None)}, "
                      f"lambda = {getattr(c, 'kl_weight', None)}, Adam {getattr(c, 'outer_lr', None)}",
             "pretrain": "k = 0 (no inner step)"}.get(algo, f"alpha = {c.inner_lr}, k = {c.inner_steps}")
    print(f"{METHODS[algo]:>20}: {len(training_curves[algo])}/{c.iterations} iterations, {c.meta_batch} tasks x "
          f"{c.episodes_per_task} episodes, {extra}")
PAPER_RUNS = not RECOMPUTE and all(c.config == "paper" and len(training_curves[a]) == c.iterations for a, c in run_configs.items())

# %% [markdown]
# The training curves, from each run's `metrics.csv`, smoothed over 10 iterations: the mean return
# of the meta-batch before adaptation and after it. Read the right panel with care: "after" is
# one VPG step for MAML, FOMAML and probabilistic MAML, but $k - 1 = 2$ steps of the full $\alpha$
# for Reptile (the last batch its inner loop samples); and probabilistic MAML's policies before adaptation are the sampled
# $\theta_i$, not $\mu$. The pretrained policy has no inner step; it appears in the left panel only.

# %%
def smoothed(rows, column, window=10):
    """(iterations, moving average of column over window iterations)."""
    values = np.array([float(row[column]) for row in rows])
    kernel = np.ones(window) / window
    return np.arange(window, len(values) + 1), np.convolve(values, kernel, mode="valid")


fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for ax, column, title in zip(axes, ("pre_return", "post_return"), ("before adaptation", "after adaptation (training)")):
    for algo, rows in training_curves.items():
        if column == "post_return" and run_configs[algo].inner_steps == 0:
            continue
        ax.plot(*smoothed(rows, column), label=METHODS[algo])
    ax.set_xlabel("meta-iteration")
    ax.set_title(title)
axes[0].set_ylabel("mean return of the meta-batch (10-iteration average)")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The evaluation of the course (chapter 06): held-out tasks (40 for the stored runs, 40 episodes
# per task and step), the mean return after 0 to 3 VPG steps (the first of size $\alpha$, the later
# ones $\alpha/2$), with the 95% half-width over tasks. The meta-learners adapt with their training
# $\alpha$; the pretrained policy, trained without an inner step, adapts with the $\alpha$ of a
# small grid that scored best on validation goals (0.03, then 0.015, for the stored run: the
# `alpha` column below). `metarl-lite evaluate` stored it as `evaluation.json` in each finished
# run. For probabilistic MAML each task's value is the mean over 5 sampled initializations, each
# adapted on its own 40 episodes, so it averages 5 × 40 episodes per step where the others average
# 40: its narrower intervals partly reflect that and are not directly comparable with the
# others'. The file also records their spread (the standard deviation across the 5, averaged
# over tasks). Beside it, the cost of
# an iteration, from `metrics.csv`: environment and policy time (`sample`), advantages and inner
# steps (`adapt`), and the outer step (`outer`), measured on a shared two-core machine, with the
# number of episodes each iteration samples.

# %%
# NBVAL_IGNORE_OUTPUT
evaluations = {}
for algo, run in RUNS.items():
    stored = run / "evaluation.json"
    if PAPER_RUNS and stored.exists():
        evaluations[algo] = json.loads(stored.read_text())
    else:
        evaluations[algo] = evaluate(load_learner(run), adapt_steps=3, n_tasks=10)
after = {algo: np.array(e["after_steps"]) for algo, e in evaluations.items()}
ci95 = {algo: np.array(e["ci95"]) for algo, e in evaluations.items()}

fig, ax = plt.subplots(figsize=(7, 4.2))
for offset, algo in zip(np.linspace(-0.12, 0.12, len(after)), after):
    ax.errorbar(np.arange(4) + offset, after[algo], yerr=ci95[algo], marker="o", capsize=3,
                linestyle="--" if algo == "pretrain" else "-", label=METHODS[algo])
ax.set_xticks(range(4))
ax.set_xlabel("VPG steps on the held-out task")
ax.set_ylabel("mean return (95% interval over tasks)")
ax.set_title(f"Adaptation on {evaluations['maml']['tasks']} held-out goals, 2D navigation")
ax.legend()
plt.show()

print(f"{'':>20}  alpha  return after 0 / 1 / 2 / 3 steps (± 95%)         s/iter  sample  adapt  outer  "
      "episodes/iter")
for algo, rows in training_curves.items():
    c = run_configs[algo]
    seconds = {column: np.mean([float(r[column]) for r in rows]) for column in ("sample_seconds", "adapt_seconds",
                                                                                "outer_seconds")}
    per_iteration = float(rows[-1]["wall_seconds"]) / len(rows)
    batches = c.inner_steps if algo == "reptile" else c.inner_steps + 1  # Reptile never samples its W_i
    print(f"{METHODS[algo]:>20}  {evaluations[algo]['adapt_lr']:5.2f}  " + " / ".join(f"{a:6.1f}" for a in after[algo])
          + f"  (± {' / '.join(f'{h:.1f}' for h in ci95[algo])})  {per_iteration:5.2f}  "
          + "  ".join(f"{seconds[col]:5.2f}" for col in seconds) + f"  {c.meta_batch * c.episodes_per_task * batches:8d}")
spread = np.array(evaluations["pmaml"].get("spread", [np.nan] * 4))
print(f"probabilistic MAML: spread of the return across sampled initializations after 0..3 steps = {spread.round(2)}")

# %% [markdown]
# What the numbers say, each claim asserted below on the stored runs.
#
# * **Every meta-learner adapts.** One step raises the return by far more than the two 95%
#   intervals, from about $-38$ to about $-11$ (this one is asserted on any loaded runs).
# * **After one step we cannot tell them apart, and all beat joint training.** On 40 goals the
#   intervals of MAML, FOMAML, Reptile and probabilistic MAML after one step overlap pairwise,
#   and each lies entirely above the pretrained policy's interval. Before adaptation, all five
#   policies, the pretrained one included, overlap: what meta-learning buys is adaptability, not
#   a better starting return. One seed per method: these intervals cover goals, not training
#   seeds.
# * **Reptile's iterations are the cheapest.** It has no outer optimization at all (its
#   `outer` column, the averaging, rounds to 0.00 s) and needs no second derivative, so its
#   iteration took the least wall-clock time, although it samples $k = 3$ batches of episodes
#   where MAML samples 2 (the `episodes/iter` column). On 2D navigation an environment step is
#   almost free; on MuJoCo tasks it costs far more (chapter 07), and sampling 1.5 times as many
#   episodes weighs more.
# * **Sampled initializations disagree, and adaptation removes most of it.** The spread of
#   probabilistic MAML's returns across its 5 initializations is largest before and right after
#   the first step and falls to under half of either after the second and third (smaller) steps.

# %%
for algo in ("maml", "fomaml", "reptile", "pmaml"):
    assert after[algo][1] - ci95[algo][1] > after[algo][0] + ci95[algo][0], (algo, after[algo], ci95[algo])
if PAPER_RUNS:
    learners = ("maml", "fomaml", "reptile", "pmaml")
    low = {algo: after[algo] - ci95[algo] for algo in METHODS}
    high = {algo: after[algo] + ci95[algo] for algo in METHODS}
    for a in learners:
        assert low[a][1] > high["pretrain"][1], (a, "one step from a meta-learned theta should beat joint training")
        for b in learners:
            assert low[a][1] < high[b][1], (a, b, "one-step intervals should overlap")
    for a in METHODS:
        for b in METHODS:
            assert low[a][0] < high[b][0], (a, b, "before adaptation all intervals should overlap")
    for step in range(4):  # used in the spread section: MAML's single initialization does about as well
        assert low["maml"][step] < high["pmaml"][step] and low["pmaml"][step] < high["maml"][step], step
    seconds_per_iteration = {algo: evaluations[algo]["seconds_per_iteration"] for algo in learners}
    assert min(seconds_per_iteration, key=seconds_per_iteration.get) == "reptile", seconds_per_iteration
    assert max(spread[2:]) < 0.5 * min(spread[:2]), spread

# %% [markdown]
# ### Why Reptile's training curve is lower
#
# In the second half of training, Reptile's right-hand curve (after $k - 1 = 2$ steps of the full
# $\alpha = 0.5$) drops below the others and swings widely (the cell prints the means and standard
# deviations over iterations 101 to 200), while its evaluation after one and two steps is as
# good as MAML's. The evaluation's later steps have size $\alpha/2$. So the suspect is the size of the
# second and third steps: the first step brings the walk near the goal, and full-size later
# steps overshoot. The check, on 20 validation goals with 20 episodes per step: Reptile's
# initialization adapted three times with $\alpha, \alpha, \alpha$ and with $\alpha, \alpha/2, \alpha/2$,
# from the same episodes for the first step (the same seed). With full-size later steps the
# return after two steps is lower, by more than the 95% interval of the paired differences.

# %%
second_half = {algo: np.array([float(r["post_return"]) for r in training_curves[algo][len(training_curves[algo]) // 2:]])
               for algo in ("maml", "fomaml", "reptile", "pmaml")}
for algo, values in second_half.items():
    print(f"{METHODS[algo]:>20}: training return after adaptation, second half: {values.mean():6.1f} ± {values.std():4.1f}")
if PAPER_RUNS:
    others = [second_half[algo] for algo in ("maml", "fomaml", "pmaml")]
    assert all(second_half["reptile"].mean() < o.mean() and second_half["reptile"].std() > 2 * o.std() for o in others)
    assert all(abs(after["reptile"][k] - after["maml"][k]) < ci95["reptile"][k] + ci95["maml"][k] for k in (1, 2))

reptile_learner = load_learner(RUNS["reptile"])
reptile_theta, reptile_config = reptile_learner.theta, reptile_learner.config
validation = held_out_tasks(reptile_config, 20, VALIDATION_SEED)
later_steps = {}
for factor in (1.0, 0.5):
    later_steps[factor] = meta_rl.evaluate(
        reptile_theta, validation, make_env=navigation.make_vec_env, adapt_steps=3, adapt_lr=reptile_config.inner_lr,
        later_adapt_lr=factor * reptile_config.inner_lr, episodes_per_task=20, horizon=HORIZON, seed=5)[:, 0]
for factor, returns in later_steps.items():
    print(f"later steps of {factor:g} alpha: return after 0..3 steps = {returns.mean(0).numpy().round(1)}")
paired = later_steps[0.5][:, 2] - later_steps[1.0][:, 2]
half_width = 1.96 * paired.std() / math.sqrt(len(paired))
print(f"after two steps, alpha/2 minus alpha: {paired.mean():.1f} ± {half_width:.1f}")
assert torch.equal(later_steps[1.0][:, :2], later_steps[0.5][:, :2]), "the first step should be the same"
assert paired.mean() - half_width > 0

# %% [markdown]
# ## The spread of adapted behaviours
#
# Probabilistic MAML's distinctive output is not one adapted policy but a family of them. We load
# its trained distribution, draw 8 initializations $\theta_1, \dots, \theta_8 \sim \mathcal{N}(\mu, \sigma^2)$
# for one held-out goal, and adapt each by one VPG step on its own 20 episodes (the training batch
# size; the evaluation above uses 40). `metarl_lite.widgets.adapted_trajectories` samples and
# adapts, and returns every walk; it is called with the same seed for each initialization, so all eight see the same exploration
# noise and differ only through $\theta_m$. Each line below is one initialization's **average
# walk** over its 20 episodes (an episode that reaches the goal stays there). First, how far the
# learned $\sigma$ moved from $\sigma_0$.

# %%
# NBVAL_IGNORE_OUTPUT
pmaml = load_learner(RUNS["pmaml"])
pmaml_config, distribution = pmaml.config, pmaml.dist
sigma_by_tensor = {name: value.detach().exp() for name, value in distribution.log_sigma.items()}
for name, s in sigma_by_tensor.items():
    print(f"sigma of {name:>8} ({s.numel():4d} entries): mean {s.mean():.4f}, min {s.min():.4f}, max {s.max():.4f}")
print(f"prior width sigma_0 = {pmaml_config.prior_std}, KL to the prior = {distribution.kl_to_prior().item():.2f}")

# %% [markdown]
# After 200 iterations every $\sigma_j$ of the network's weights and biases is still within 15% of
# $\sigma_0 = 0.1$; the entries that moved most are those of `log_std`, the log standard deviation of
# the policy's action noise, whose $\sigma_j$ shrank by about 30%. (The cell below asserts both.)

# %%
if PAPER_RUNS:
    network = torch.cat([s.reshape(-1) for name, s in sigma_by_tensor.items() if name != policies.LOG_STD])
    assert (network - pmaml_config.prior_std).abs().max() < 0.15 * pmaml_config.prior_std
    assert sigma_by_tensor[policies.LOG_STD].max() < 0.75 * pmaml_config.prior_std

N_INIT = 8
goal = held_out_tasks(pmaml_config, 4, TEST_SEED)[1]["goal"]
initializations = meta_rl.detached(distribution.sample(N_INIT, torch.Generator().manual_seed(0)))
walks = [adapted_trajectories({name: value[m] for name, value in initializations.items()}, [goal],
                              inner_lr=pmaml_config.inner_lr, steps=1, seed=0,
                              episodes_per_goal=pmaml_config.episodes_per_task) for m in range(N_INIT)]
positions = np.stack([w["positions"][:, 0] for w in walks], axis=1)  # [2 (before, after), N_INIT, episodes, horizon + 1, 2]
returns = np.stack([w["returns"][:, 0] for w in walks], axis=1)  # [2, N_INIT]
average_walks = positions.mean(axis=2)  # [2, N_INIT, horizon + 1, 2]
ends = average_walks[:, :, -1]  # each initialization's mean final position, [2, N_INIT, 2]
spread_of_ends = np.sqrt(((ends - ends.mean(axis=1, keepdims=True)) ** 2).sum(-1).mean(-1))  # RMS distance to the centroid
# the standard error of one mean final position (RMS over coordinates and initializations)
standard_error = np.sqrt(positions[:, :, :, -1].var(axis=2).sum(-1).mean(-1) / positions.shape[2])
to_goal = np.linalg.norm(ends - np.array(goal), axis=-1)  # [2, N_INIT]
centroid_to_goal = np.linalg.norm(ends.mean(axis=1) - np.array(goal), axis=-1)  # [2]

fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
for m in range(N_INIT):
    color = colors[m % len(colors)]
    for step, (style, marker, fill) in enumerate(((":", "o", "none"), ("-", "o", color))):
        axes[0].plot(*average_walks[step, m].T, linestyle=style, color=color, alpha=0.8)
        axes[0].scatter(*ends[step, m], marker=marker, s=60, facecolor=fill, edgecolor=color, zorder=4,
                        label=(("before: average walk and end", "after one step: average walk and end")[step]
                               if m == 0 else None))
    axes[1].plot([0, 1], returns[:, m], marker="o", color=color)
axes[0].scatter(*goal, marker="*", s=300, color="gold", edgecolor="black", zorder=3, label="goal")
axes[0].scatter(0, 0, marker="s", color="black", zorder=3, label="start")
view = 1.2 * max(abs(x) for x in navigation.GOAL_RANGE)  # the goal region [-0.5, 0.5]^2 and a margin
axes[0].set_xlim(-view, view)
axes[0].set_ylim(-view, view)
axes[0].set_aspect("equal")
axes[0].set_xlabel("position x")
axes[0].set_ylabel("position y")
axes[0].set_title(f"{N_INIT} initializations from N(mu, sigma^2): average walks")
axes[0].legend(fontsize="small")
axes[1].set_xticks([0, 1], ["before adaptation", "after one VPG step"])
axes[1].set_ylabel("mean return of the initialization's 20 episodes")
axes[1].set_title("the same initializations, one line each")
plt.tight_layout()
plt.show()
for step, name in enumerate(("before", "after")):
    print(f"{name:>6}: return {returns[step].mean():6.1f} ± {returns[step].std():4.1f} (std across initializations); "
          f"final positions spread {spread_of_ends[step]:.3f} around their centroid (standard error of one "
          f"mean position {standard_error[step]:.3f}); centroid {centroid_to_goal[step]:.3f} from the goal")
assert (spread_of_ends > 2 * standard_error).all()
assert centroid_to_goal[1] < centroid_to_goal[0] and (to_goal[1] < to_goal[0]).all()

# %% [markdown]
# Before adaptation the eight policies have seen no reward of this task, and they stay close to
# the start, which is the centre of the goal region (on average over goals, the best place to
# wait), each drifting a little differently. One step sends every one of them toward the goal
# (each ends closer than it started, and so does their centroid), but they still do not agree:
# their final positions spread by several times the standard error with which a mean position is
# measured (printed above), so the spread is a property of the initializations, not Monte-Carlo
# noise. The evaluation above showed the rest of the story on 40 goals: the spread of the return
# across initializations shrinks to a fraction after the second and third steps. On 2D
# navigation the rewards identify the goal, and MAML's single initialization does about as well
# (MAML's and probabilistic MAML's intervals in the evaluation overlap after every step, asserted
# with the claims above; one seed each). A distribution over
# initializations is meant for tasks that stay ambiguous after the first episodes, like chapter
# 04's lines-or-sinusoids, where the spread is the honest answer; sampled parameters are also a
# form of parameter-space exploration (Plappert et al. 2018; Gupta et al. 2018 meta-learn such
# exploration noise).
#
# ### Try it: step size and number of steps
#
# The widget shows Reptile's trained initialization walking toward four held-out goals, before
# adaptation (left) and after $k$ VPG steps of size $\alpha$, all of the same size (right). Reptile
# was trained with three steps of $\alpha = 0.5$. Compare $k = 1, 2, 3$ at $\alpha = 0.5$ with the same
# $k$ at $\alpha = 0.25$. The widget gives every step the same size, so it cannot repeat the previous
# section's check (a full first step, then half-size steps): halving every step, the first
# included, is only a rough stand-in for it. To look at a sampled initialization instead,
# pass `{name: value[m] for name, value in initializations.items()}` in place of `reptile_theta`.

# %%
# NBVAL_IGNORE_OUTPUT
navigation_widget(reptile_theta, [task["goal"] for task in held_out_tasks(reptile_config, 4, TEST_SEED)],
                  inner_lr=reptile_config.inner_lr, steps=reptile_config.inner_steps, seed=0,
                  episodes_per_goal=reptile_config.episodes_per_task)

# %% [markdown]
# ## At MuJoCo scale: HalfCheetahDir
#
# Chapter 08 meta-trained MAML on HalfCheetahDir (run forward or backward, $d = \pm 1$, $H = 100$)
# with the `paper` configuration: 500 meta-iterations of 40 tasks × 20 episodes, one VPG step of
# $\alpha = 0.1$, a TRPO outer step. Reptile and probabilistic MAML were trained with the same
# tasks, batches, policy and seed, changing only what this chapter is about: Reptile takes
# $k = 3$ steps of $\alpha = 0.1$ and the plain update with $\beta = 1$; probabilistic MAML samples
# each task's $\theta_i \sim \mathcal{N}(\mu, \sigma^2)$ with $\sigma_0 = 0.1$ and $\lambda = 10^{-3}$ and takes
# Adam steps of $3 \cdot 10^{-3}$. Each run took hours on two cores, so this section only loads
# them (`bash results/reproduce.sh halfcheetah-dir` trains, resumes and evaluates them). The
# evaluation is chapter 08's: 40 held-out tasks, 40 episodes per step (probabilistic MAML: the
# mean over 5 sampled initializations), and the normalized score
# $(R_k - R_{\text{random},0}) / (R_{\text{oracle}} - R_{\text{random},0})$ against our own untrained
# policy and our oracle, which sees $d$ (`metarl_lite.report.scored_returns`). Left: the
# post-update return of the training batches (for Reptile, after $k - 1 = 2$ steps); right: the
# held-out returns after 0 to 3 steps with 95% half-widths over tasks.

# %%
DIR_RUNS = Path("../results/halfcheetah-dir")
DIR_METHODS = ("maml", "reptile", "pmaml", "pretrain")
dir_after, dir_ci95, dir_score = scored_returns(DIR_RUNS, DIR_METHODS)

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
plot_learning_curves(left, [DIR_RUNS / algo for algo in DIR_METHODS])
plot_adaptation_curves(right, [DIR_RUNS / algo for algo in (*DIR_METHODS, "random")])
right.set_title("adaptation on 40 held-out HalfCheetahDir tasks")
plt.tight_layout()
plt.show()
print(f"untrained policy before adaptation {dir_after['random'][0]:.1f}, oracle {dir_after['oracle'][0]:.1f}")
for algo in DIR_METHODS:
    print(f"{METHODS[algo]:>20}: return after 0..3 steps {dir_after[algo].round(1)} (± {dir_ci95[algo].round(1)}), "
          f"score {dir_score[algo].round(2)}")

# %% [markdown]
# Unlike on 2D navigation, the methods come apart here; asserted below:
#
# * **MAML meta-learned; Reptile and probabilistic MAML did not, in 500 iterations.** After one
#   step MAML's 95% interval lies entirely above theirs. Their normalized scores after one step
#   are below 0.05, and their one-step intervals overlap the pretrained policy's: no better than
#   joint training, which cannot learn HalfCheetahDir's direction at all (chapter 08).
# * **Probabilistic MAML stirred late.** Its post-update training return, flat for 350
#   iterations, rose over the last 150 (means per 50 iterations in the printout: from about
#   $-16$ to $-10$), much as MAML's did after its first 200. It did not take off: trained on
#   to 1000 iterations (README, results), it reached about $+26$ over iterations 651-700, fell
#   back to about $-16$ over 851-900 and ended near 0; at 1000 iterations it still scores below
#   0.05 after one step. Reptile's crept up
#   by less than a return point per 50 iterations.

# %%
print("post-update training return, mean per 50 iterations:")
dir_training = {algo: read_column(DIR_RUNS / algo, "post_return") for algo in DIR_METHODS}
for algo in ("maml", "reptile", "pmaml"):
    print(f"{METHODS[algo]:>20}: " + " ".join(f"{dir_training[algo][i:i + 50].mean():6.1f}" for i in range(0, 500, 50)))
dir_low, dir_high = ({algo: dir_after[algo] + sign * dir_ci95[algo] for algo in DIR_METHODS} for sign in (-1, 1))
for algo in ("reptile", "pmaml"):
    assert dir_low["maml"][1] > dir_high[algo][1], algo
    assert dir_score[algo][1] < 0.05 and dir_low[algo][1] < dir_high["pretrain"][1] and dir_low["pretrain"][1] < dir_high[algo][1], algo
per_50 = {algo: dir_training[algo].reshape(10, 50).mean(1) for algo in ("reptile", "pmaml")}
assert per_50["pmaml"][-1] > per_50["pmaml"][:7].max() + 4, per_50["pmaml"]
assert np.all(np.diff(per_50["reptile"]) < 1.0), per_50["reptile"]
trained_on = Path("../results/ablations/longer-training/halfcheetah-dir/pmaml")  # the same run, trained on
longer = read_column(trained_on, "post_return")
print(f"{METHODS['pmaml']:>20}, trained on, iterations 501-{len(longer)}: "
      + " ".join(f"{longer[i:i + 50].mean():6.1f}" for i in range(500, len(longer), 50)))
trained_on_after = np.array(json.loads((trained_on / "evaluation.json").read_text())["after_steps"])
trained_on_score = normalized_score(trained_on_after, dir_after["random"][0], dir_after["oracle"][0])
print(f"at iteration {len(longer)}: return after 0..3 steps {trained_on_after.round(1)}, score {trained_on_score.round(2)}")
assert np.array_equal(longer[:500], dir_training["pmaml"]), "the first 500 iterations are the reference run's"
assert longer[650:700].mean() > 20 and longer[850:900].mean() < -10, "a rise, then a fall back"
assert len(longer) == 1000 and trained_on_score[1] < 0.05, "trained on to 1000 iterations, it still did not meta-learn"

# %% [markdown]
# ### Why Reptile did not meta-learn on HalfCheetahDir
#
# On 2D navigation Reptile kept up with MAML; here it stayed where it started. First, how far
# each run's parameters moved in 500 iterations from the initialization that the shared seed
# gives (`make_learner(config)`), in the network's weights and biases and in the exploration
# noise $\log\sigma$. Then one meta-iteration of each method from that common $\theta_0$, on two
# independent meta-batches of 10 forward and 10 backward tasks × 10 episodes (a quarter of the
# training batch): MAML's TRPO step and Reptile's update
# $u = \frac1n \sum_i (W_i - \theta)$ ($\beta = 1$), which we split into the mean over the forward tasks,
# $u_+$, and over the backward ones, $u_-$, so that $u = (u_+ + u_-)/2$. Only the network's weights
# and biases are compared (log_std left out).

# %%
# NBVAL_IGNORE_OUTPUT
dir_learners = {algo: load_learner(DIR_RUNS / algo) for algo in ("maml", "reptile", "pmaml", "pretrain")}
dir_family, dir_config = RL_FAMILIES["halfcheetah-dir"], dir_learners["maml"].config
theta_0 = make_learner(dir_config).theta  # every run's initialization: they share the seed
assert all((l.config.seed, l.config.hidden) == (dir_config.seed, dir_config.hidden) for l in dir_learners.values())
weights_of = lambda params: torch.cat([params[k].detach().flatten() for k in params if k != policies.LOG_STD])  # noqa: E731
cosine = lambda a, b: torch.nn.functional.cosine_similarity(a, b, dim=0).item()  # noqa: E731


def distance_moved(learner):
    """||theta - theta_0|| of a trained policy (probabilistic MAML: mu): (the network's weights and
    biases, log_std)."""
    final = learner.policy
    return ((weights_of(final) - weights_of(theta_0)).norm().item(),
            (final[policies.LOG_STD] - theta_0[policies.LOG_STD]).norm().item())


moved = {algo: distance_moved(dir_learners[algo]) for algo in ("maml", "reptile", "pmaml")}
for algo, (weights, log_std) in moved.items():
    print(f"{METHODS[algo]:>20}: moved {weights:.2f} in its weights and biases, {log_std:.2f} in log_std")


def one_iteration(algo, tasks, seed, episodes=10):
    """The change of the weights and biases by one meta-iteration from theta_0 on `tasks`: MAML's TRPO
    step (the `paper` config's delta, Fisher on 10 tasks) or Reptile's update (k = 3, beta = 1)."""
    env, common = dir_family.make_vec_env(tasks, episodes), {"horizon": dir_config.horizon, "seed": seed,
                                                             "inner_lr": dir_config.inner_lr}
    if algo == "maml":
        new, _ = meta_rl.maml_rl_step(meta_rl.detached(theta_0), env, fisher_tasks=10, max_kl=dir_config.max_kl, **common)
    else:
        new, _ = meta_rl.reptile_rl_step(meta_rl.detached(theta_0), env, inner_steps=3, outer_lr=1.0, **common)
    return weights_of(new) - weights_of(theta_0)


FORWARD, BACKWARD = [{"direction": 1}] * 10, [{"direction": -1}] * 10
MIXED = [task for pair in zip(FORWARD, BACKWARD) for task in pair]  # alternating, so the 10 Fisher tasks hold both
maml_steps, reptile_steps, halves_cosine = [], [], []
for seed in tqdm(range(2), desc="one meta-iteration, two meta-batches"):
    maml_steps.append(one_iteration("maml", MIXED, seed))
    u_plus, u_minus = one_iteration("reptile", FORWARD, seed), one_iteration("reptile", BACKWARD, seed)
    reptile_steps.append((u_plus + u_minus) / 2)
    halves_cosine.append(cosine(u_plus, u_minus))
    print(f"meta-batch {seed}: MAML's step {maml_steps[-1].norm():.3f}; Reptile's |u+| = {u_plus.norm():.4f}, "
          f"|u-| = {u_minus.norm():.4f}, cos(u+, u-) = {halves_cosine[-1]:.2f}, |u| = {reptile_steps[-1].norm():.4f}")
print(f"cos between the two meta-batches' steps: MAML {cosine(*maml_steps):.2f}, Reptile {cosine(*reptile_steps):.2f}")
print("log_std of the final policy, Reptile:", dir_learners["reptile"].theta[policies.LOG_STD].detach().numpy().round(2))

# %% [markdown]
# What this shows, asserted below:
#
# * **Reptile barely moved.** Its weights and biases ended about 20 times closer to $\theta_0$ than
#   MAML's; most of its change is in $\log\sigma$, which fell on every action dimension, as the
#   pretrained (joint-training) policy's did: less exploration noise lowers the control cost on
#   both directions at once. That is the joint-training term $k \nabla J$.
# * **One meta-batch says little, for either method.** The two meta-batches' steps are nearly
#   orthogonal, for MAML as for Reptile: at $\theta_0$ a step is mostly sampling noise, and
#   progress is the small consistent part adding up over many iterations. Within Reptile's
#   update, each direction alone pulls the weights one clear way and the two pull in clearly
#   opposite ways ($\cos(u_+, u_-) < -0.3$): their average cancels much of both. The cosines
#   ranged from $-0.4$ to $-0.75$ over the meta-batches and the machines we tried: the simulator
#   is chaotic, so a difference in the last digits of the arithmetic (another CPU's vector
#   instructions) runs other episodes.
# * **MAML's step is more than 10 times longer.** TRPO scales MAML's step to the KL bound $\delta$,
#   whatever the gradient's length; Reptile with
#   $\beta = 1$ takes the averaged VPG steps at face value. What the consistent part adds up to in
#   500 iterations is proportional to that length, so Reptile's 500 iterations cover about as much
#   ground as a few dozen of MAML's, and MAML's own training curve was flat for its first 200.
# * **Step length is not all.** Probabilistic MAML's $\mu$ moved even farther than MAML's $\theta$
#   (Adam's steps have about the learning rate's size in every coordinate, signal or not), yet it
#   was about 200 iterations slower to start and did not take off. The candidates are the noise of
#   its sampled initializations ($\sigma = 0.1$ on every weight, which stayed within 10% of
#   $\sigma_0$) and the Adam outer step in place of TRPO; the next section separates them.
#
# A larger $\beta$ (about 25 would match the lengths) or more tasks per meta-batch are the obvious
# next experiments; we have not run them.

# %%
assert moved["reptile"][0] < 0.1 * moved["maml"][0] and moved["pmaml"][0] > moved["maml"][0], moved
dir_sigma = torch.cat([v.detach().exp().flatten() for v in dir_learners["pmaml"].dist.log_sigma.values()])
assert torch.all((dir_sigma - 0.1).abs() < 0.01), "probabilistic MAML's sigma should have stayed at sigma_0 = 0.1"
for theta_final in (dir_learners["reptile"].theta, dir_learners["pretrain"].theta):
    assert torch.all(theta_final[policies.LOG_STD] < theta_0[policies.LOG_STD])
assert abs(cosine(*maml_steps)) < 0.3 and abs(cosine(*reptile_steps)) < 0.3
assert max(halves_cosine) < -0.3, halves_cosine
for maml_step, reptile_step in zip(maml_steps, reptile_steps):
    assert maml_step.norm() > 10 * reptile_step.norm()

# %% [markdown]
# ### What held probabilistic MAML back
#
# The same run with ten times less noise, $\sigma_0 = 0.01$ (`train --prior-std 0.01`, in
# `results/ablations/prior-std`; everything else is the reference run's, its seed and so
# $\theta_0$ included), separates the two candidates. Left: the post-update training return of
# MAML and of probabilistic MAML with $\sigma_0 = 0.1$ and $0.01$; right: their held-out
# evaluations at iteration 500. Asserted below:
#
# * **With less noise it took off, sooner than MAML.** Its 10-iteration mean post-update return
#   passed 50 more than 50 iterations before MAML's did; with $\sigma_0 = 0.1$ it never passed 0
#   in 500 iterations.
# * **Then it collapsed** within a few iterations, and ended below where it started: at
#   iteration 500 it adapts no better than the $\sigma_0 = 0.1$ run (a score below 0.05 after one
#   step).
#
# So the noise delayed it, and something else undid what it had learned. The ablation's README
# measures the likely culprit (`results/ablations/prior-std/step_kl.py`, a few minutes): how far
# one outer step moves the policy before adaptation, as a KL averaged over states. MAML's TRPO
# steps at iteration 500 move it by about 0.002; the Adam steps of the $\sigma_0 = 0.01$ run after
# its collapse by 0.02 to 0.2, and those of the $\sigma_0 = 0.1$ run trained on to 1000 iterations,
# which also rose and fell, by 0.03 to 0.08. Adam's steps, about the learning rate in every
# coordinate, have no bound in policy space; TRPO's do. The step that did the damage was not
# measured (no checkpoint of it was kept). A second seed (`--seed 1`: another $\theta_0$ and other
# meta-batches) rose and fell the same way, a little earlier, and never recovered; it is drawn
# in red.

# %%
PRIOR_STD_RUN = Path("../results/ablations/prior-std/halfcheetah-dir/pmaml")
SECOND_SEED = PRIOR_STD_RUN.with_name("pmaml-seed1")
reference, ablation = read_config(DIR_RUNS / "pmaml"), read_config(PRIOR_STD_RUN)
assert (reference["prior_std"], ablation["prior_std"]) == (0.1, 0.01)
assert {k: v for k, v in reference.items() if k != "prior_std"} == {
    k: v for k, v in ablation.items() if k not in ("prior_std", "policy_std")}, "only sigma_0 differs"
low_noise, second = read_column(PRIOR_STD_RUN, "post_return"), read_column(SECOND_SEED, "post_return")
windows = {name: smoothed(read_metrics(run), "post_return")  # (last iteration of each window, 10-iteration mean)
           for name, run in (("maml", DIR_RUNS / "maml"), ("0.1", DIR_RUNS / "pmaml"), ("0.01", PRIOR_STD_RUN),
                             ("seed 1", SECOND_SEED))}
best = {name: means.max() for name, (_, means) in windows.items()}
first_above = lambda name, level: int(windows[name][0][np.argmax(windows[name][1] > level)])  # noqa: E731

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
plot_learning_curves(left, [DIR_RUNS / "maml", DIR_RUNS / "pmaml", PRIOR_STD_RUN, SECOND_SEED])
plot_adaptation_curves(right, [DIR_RUNS / "maml", DIR_RUNS / "pmaml", PRIOR_STD_RUN, SECOND_SEED])
right.set_title("adaptation on 40 held-out HalfCheetahDir tasks")
plt.tight_layout()
plt.show()
print("post-update training return, mean per 50 iterations:")
for label, curve in (("MAML", dir_training["maml"]), ("sigma_0 = 0.1", dir_training["pmaml"]),
                     ("sigma_0 = 0.01", low_noise)):
    print(f"{label:>20}: " + " ".join(f"{curve[i:i + 50].mean():6.1f}" for i in range(0, 500, 50)))
print(f"10-iteration mean first above 50: sigma_0 = 0.01 at iteration {first_above('0.01', 50)}, "
      f"MAML at {first_above('maml', 50)}; best 10-iteration means: sigma_0 = 0.01 {best['0.01']:.1f}, "
      f"sigma_0 = 0.1 {best['0.1']:.1f}")
low_noise_after = np.array(json.loads((PRIOR_STD_RUN / "evaluation.json").read_text())["after_steps"])
low_noise_score = normalized_score(low_noise_after, dir_after["random"][0], dir_after["oracle"][0])
print(f"sigma_0 = 0.01 at iteration 500: return after 0..3 steps {low_noise_after.round(1)}, "
      f"score {low_noise_score.round(2)}")
assert best["0.1"] < 0 and best["0.01"] > 50, "less noise: it took off"
assert first_above("0.01", 50) + 50 < first_above("maml", 50), "sooner than MAML"
assert low_noise[-50:].mean() < low_noise[:50].mean() and low_noise_score[1] < 0.05, "then it collapsed"
print(f"seed 1, {len(second)} iterations: best 10-iteration mean {best['seed 1']:.1f} (first above 50 at "
      f"iteration {first_above('seed 1', 50)}), last 20 iterations {second[-20:].mean():.1f}")
assert best["seed 1"] > 50 and second[-20:].mean() < second[:50].mean(), "seed 1 rose and fell too"

# %% [markdown]
# ### A trust region on the Adam step
#
# If the unbounded step caused the collapse, bounding it should prevent it. `train --max-kl`
# adds a line search after each Adam step (`meta_rl.trust_region`): the step is halved until the
# mean policy has moved by at most $\delta$,
#
# $$\overline{\mathrm{KL}}\big(\pi_{\mu_\text{old}} \,\|\, \pi_{\mu}\big) \le \delta = 0.01,$$
#
# averaged over the states of the pre-update episodes. It is TRPO's line search with TRPO's
# $\delta$, but it puts the bound on the policy before adaptation and does not test that the
# surrogate improved. Both seeds again, with everything else as above (`pmaml-max-kl` and
# `pmaml-max-kl-seed1`). Asserted below:
#
# * **The bound held and was active.** Every kept step is within $\delta$, and the line search
#   shrank most of seed 1's steps.
# * **It did not prevent the fall.** Seed 1 took off more than 100 iterations sooner than without
#   the bound, and then fell below where it started. Seed 0 had not taken off by iteration 500.
#   Neither adapts on held-out tasks (a score below 0.1 after one step, against MAML's 0.48).
#
# So the length of the step in policy space is not the whole story. Bounded by TRPO's $\delta$,
# the Adam steps still walked the policy down. Three differences from MAML's step remain, and we
# have not separated them: the direction (Adam's scaling per coordinate against TRPO's natural
# gradient), TRPO's test that the surrogate improved, and which policies the bound is on (MAML's
# bounds the adapted policies). A tighter bound, $\delta = 0.0025$ (about the pre-update KL of
# MAML's steps at iteration 500), kept both seeds from taking off in 500 iterations (0.01 after
# one step; the ablation's README).

# %%
BOUNDED = {seed: PRIOR_STD_RUN.with_name(name) for seed, name in ((0, "pmaml-max-kl"), (1, "pmaml-max-kl-seed1"))}
for seed, run in BOUNDED.items():
    unbounded = read_config(PRIOR_STD_RUN if seed == 0 else SECOND_SEED)
    assert read_config(run) == {**unbounded, "max_kl": 0.01}, "only the bound differs"
fig, ax = plt.subplots(figsize=(7, 4))
plot_learning_curves(ax, [PRIOR_STD_RUN, SECOND_SEED, *BOUNDED.values()])
plt.show()
bounded = {seed: {name: read_column(run, name) for name in ("post_return", "step_kl", "backtracks")}
           for seed, run in BOUNDED.items()}
windows.update({f"bounded {seed}": smoothed(read_metrics(run), "post_return") for seed, run in BOUNDED.items()})


def held_out_scores(run):
    """The normalized scores after 0..3 steps of the evaluated Dir run in `run`."""
    after = json.loads((run / "evaluation.json").read_text())["after_steps"]
    return normalized_score(after, dir_after["random"][0], dir_after["oracle"][0])


bounded_scores = {seed: held_out_scores(run) for seed, run in BOUNDED.items()}
for seed, m in bounded.items():
    iterations, means = windows[f"bounded {seed}"]
    print(f"seed {seed} with the bound: largest kept step KL {m['step_kl'].max():.4f}, "
          f"{(m['backtracks'] > 0).mean():.0%} of the steps shrunk; best 10-iteration mean {means.max():.1f} "
          f"(iterations {iterations[means.argmax()] - 9}-{iterations[means.argmax()]}), last 50 iterations "
          f"{m['post_return'][-50:].mean():.1f}; score after 0..3 steps {bounded_scores[seed].round(2)}")
print(f"seed 1: 10-iteration mean past 50 at iteration {first_above('bounded 1', 50)} with the bound, "
      f"{first_above('seed 1', 50)} without")
assert all(m["step_kl"].max() <= 0.01 for m in bounded.values()), "the bound held"
assert (bounded[1]["backtracks"] > 0).mean() > 0.5, "and was active"
assert first_above("bounded 1", 50) + 100 < first_above("seed 1", 50), "seed 1 took off sooner"
assert bounded[1]["post_return"][-50:].mean() < bounded[1]["post_return"][:50].mean(), "and fell below its start"
assert windows["bounded 0"][1].max() < 50, "seed 0 did not take off"
assert all(score[1] < 0.1 for score in bounded_scores.values()), "neither adapts"

# %% [markdown]
# ### TRPO's surrogate test, and MAML's own second seed
#
# The next candidate is TRPO's second test. `train --surrogate-test` keeps a halving of the Adam
# step only if it is within the bound *and* raises the objective $L - \lambda\,\mathrm{KL}$ on the
# iteration's own batch and draws $\varepsilon_i$, as TRPO's line search does for its surrogate
# (`pmaml-surrogate-test-seed1`, seed 1 with $\delta = 0.01$). And one more run changes the method
# instead: MAML with its TRPO step, on the same seed 1 (`results/ablations/seeds`). Asserted below:
#
# * **The test changed almost nothing.** The run equals the one without the test for more than 200
#   iterations, the peak included (every step the bound kept also raised the objective on its
#   batch), the test undid fewer than 1% of the steps, and the run fell below its start all the same.
# * **MAML rose and fell too.** On seed 1 its training return rose and then declined by more than 15,
#   with every TRPO step accepted, and it does not adapt on held-out tasks (a score below 0.1; seed 0
#   scores 0.48).
#
# So a step that improves the surrogate of its own batch within a trust region protects neither
# method from this decline on Dir: the fall is not probabilistic MAML's alone, and MAML's 0.48 is
# one seed's.

# %%
SURROGATE_TEST = PRIOR_STD_RUN.with_name("pmaml-surrogate-test-seed1")
MAML_SEED1 = Path("../results/ablations/seeds/halfcheetah-dir/maml-seed1")
assert read_config(SURROGATE_TEST) == {**read_config(BOUNDED[1]), "surrogate_test": True}, "only the test differs"
assert from_dict(read_config(MAML_SEED1)) == from_dict({**read_config(DIR_RUNS / "maml"), "seed": 1}), "only the seed"
fig, ax = plt.subplots(figsize=(7, 4))
plot_learning_curves(ax, [BOUNDED[1], SURROGATE_TEST, DIR_RUNS / "maml", MAML_SEED1])
plt.show()
tested = {name: read_column(SURROGATE_TEST, name) for name in ("post_return", "backtracks")}
same = np.flatnonzero(tested["post_return"] != bounded[1]["post_return"])[0]
undone = (tested["backtracks"] == 15).mean()
maml_seed1 = {name: read_column(MAML_SEED1, name) for name in ("post_return", "kl", "backtracks")}
windows["maml seed 1"] = smoothed(read_metrics(MAML_SEED1), "post_return")
scores = {run.name: held_out_scores(run)[1] for run in (SURROGATE_TEST, MAML_SEED1)}
print(f"with the surrogate test: the same returns for the first {same} iterations, {undone:.1%} of the steps "
      f"undone, last 50 iterations {tested['post_return'][-50:].mean():.1f} (first 50: "
      f"{tested['post_return'][:50].mean():.1f}), score after one step {scores[SURROGATE_TEST.name]:.2f}")
print(f"MAML, seed 1: best 10-iteration mean {windows['maml seed 1'][1].max():.1f}, last 50 iterations "
      f"{maml_seed1['post_return'][-50:].mean():.1f}, most backtracks {maml_seed1['backtracks'].max():.0f}, "
      f"score after one step {scores[MAML_SEED1.name]:.2f}")
assert same > 200 and undone < 0.01, "the test changed almost nothing"
assert tested["post_return"][-50:].mean() < tested["post_return"][:50].mean(), "and the run fell below its start"
assert windows["maml seed 1"][1].max() - maml_seed1["post_return"][-50:].mean() > 15, "MAML rose and fell"
assert (maml_seed1["kl"] > 0).all() and maml_seed1["backtracks"].max() < 15, "every TRPO step accepted"
assert all(score < 0.1 for score in scores.values()), "neither adapts"

# %% [markdown]
# ## What to remember
#
# * **Reptile-RL**: $k$ VPG steps per task, each on fresh episodes sampled by the current policy,
#   reach $W_i$; then $\theta \leftarrow \theta + \beta \cdot \frac1n \sum_i (W_i - \theta)$. First order,
#   no trust region, the cheapest iteration of the four methods on 2D navigation. With $k = 1$ it
#   is joint training.
# * In expectation it follows $k \nabla J + \frac{k(k-1)}{2} \alpha H \nabla J + O(\alpha^2)$, and
#   $H \nabla J = \frac12 \nabla \mathbb{E}[\hat g_A \cdot \hat g_B]$ rewards agreement between the policy
#   gradients of different batches of a task. MAML-RL with an exact inner step weighs the same two
#   vectors $1$ and $2\alpha$; with `loglik` its order-$\alpha$ term is $\alpha (H + H_2) \nabla J$.
# * Because every step's episodes are sampled where the step is taken, Reptile's $H$ is the
#   **exact** Hessian of the expected return, $H_1 + H_2 + H_{12} + H_{12}^\top$, with no second
#   derivative computed; MAML-RL's `loglik` meta-gradient differentiates its inner step with $H_2$
#   alone.
# * **Probabilistic MAML-RL**: $\theta = \mu + \sigma \odot \varepsilon$ per task, one VPG step, maximize the
#   post-update return minus $\lambda\, \mathrm{KL}(\mathcal{N}(\mu, \sigma^2) \| \mathcal{N}(\perp\mu, \sigma_0^2))$.
#   The KL has no $\mu$-gradient and pulls each $\sigma_j$ to $\sigma_0$
#   ($\partial/\partial \log\sigma_j = \sigma_j^2/\sigma_0^2 - 1$). The reparameterized gradient is unbiased
#   and far less noisy than the score-function one; as $\sigma \to 0$ the $\mu$-gradient is MAML-RL's.
# * On 2D navigation we cannot tell the four methods apart after one step (one training seed
#   each), and all beat joint training. Probabilistic MAML's initializations behave differently
#   before and after one step, and further steps remove most of that spread.
# * On HalfCheetahDir, in 500 iterations, only MAML meta-learned, and only on one of its two
#   seeds. Reptile's updates ($\beta = 1$)
#   were 23 to 30 times shorter than MAML's TRPO steps and, after the two directions cancel,
#   mostly noise. Probabilistic MAML's noise ($\sigma_0 = 0.1$) kept it from taking off; with
#   $\sigma_0 = 0.01$ it took off sooner than MAML and then collapsed, in two seeds. Bounding its
#   Adam steps in policy space by TRPO's $\delta$ did not prevent the collapse, nor did TRPO's
#   surrogate test, and MAML's TRPO step rose and fell on its second seed too: what undid them is
#   not the length of the step, nor a step that fails the surrogate test.
#
# ## Exercises
#
# 1. **$k = 4$.** Extend step 5 to $k = 4$ ($16^4 = 65\,536$ sequences, the last step taken from
#    4096 branches) and check the weight $\frac{k(k-1)}{2} = 6$ of $\alpha H \nabla J$. Then let the
#    $j$-th step have its own size $\alpha_j$: derive the weight of $H \nabla J$ and check it.
# 2. **A baseline.** In step 3, subtract a state-dependent baseline $b(t, s_t)$ from $R_t$ in the
#    REINFORCE estimate. Show that the terms of order 1 and $\alpha$ of step 5 do not change, and that
#    the $O(\alpha^2)$ remainder does. Why does a lower-variance estimate change the remainder but
#    not the first two terms?
# 3. **First-order MAML, too.** On the tabular tasks, compute the exact expected FOMAML-RL
#    direction for one inner step (Nichol et al.'s $k = 2$ minibatches): one step on a sampled
#    episode, then $\nabla J(\phi_1)$ as the meta-gradient. Check that it is
#    $\nabla J + \alpha H \nabla J + O(\alpha^2)$. How do the weights of MAML, FOMAML and Reptile per unit
#    of $\nabla J$ compare?
# 4. **Reptile's outer step.** Train `make_config("reptile", "nav2d", "quick", outer_lr=0.5)` and
#    with `inner_steps=2`, three seeds each (`metarl_lite.rl.training.train`), and compare the
#    one-step return on held-out goals with the default. Is the difference larger than the
#    spread across seeds?
# 5. **A wider prior.** Train probabilistic MAML with `prior_std=0.3` (quick configuration) and
#    redo the spread section. Does the spread after one step grow in proportion to $\sigma_0$? What
#    happens to the mean return?
# 6. **Pick the best draw.** At test time, draw $m$ initializations, adapt each on 20 episodes,
#    and keep the one whose post-update episodes scored best. Count the episodes this costs and
#    compare with giving MAML's single initialization $m$ times as many episodes per step.
#
# ## References
#
# * A. Nichol, J. Achiam, J. Schulman. *On First-Order Meta-Learning Algorithms.*
#   arXiv:1803.02999, 2018. (Reptile, the batched version, and the Taylor analysis with
#   AvgGrad and AvgGradInner, Sec. 5; supervised learning only.)
# * C. Finn, P. Abbeel, S. Levine. *Model-Agnostic Meta-Learning for Fast Adaptation of Deep
#   Networks.* ICML 2017. arXiv:1703.03400. (MAML-RL and the 2D navigation task.)
# * C. Finn, K. Xu, S. Levine. *Probabilistic Model-Agnostic Meta-Learning.* NeurIPS 2018.
#   arXiv:1806.02817. (PLATIPUS, on regression and classification; its RL form here is the
#   course's own specification.)
# * J. Rothfuss, D. Lee, I. Clavera, T. Asfour, P. Abbeel. *ProMP: Proximal Meta-Policy
#   Search.* ICLR 2019. (The Hessian terms $H_1, H_2, H_{12}$ of chapter 06.)
# * D. P. Kingma, M. Welling. *Auto-Encoding Variational Bayes.* ICLR 2014. (The
#   reparameterization trick.)
# * S. Mohamed, M. Rosca, M. Figurnov, A. Mnih. *Monte Carlo Gradient Estimation in Machine
#   Learning.* JMLR 21, 2020. (Pathwise and score-function gradients compared.)
# * R. J. Williams. *Simple Statistical Gradient-Following Algorithms for Connectionist
#   Reinforcement Learning.* Machine Learning 8, 1992. (REINFORCE, the score-function estimator.)
# * A. Gupta, R. Mendonca, Y. Liu, P. Abbeel, S. Levine. *Meta-Reinforcement Learning of
#   Structured Exploration Strategies.* NeurIPS 2018. (MAESN: meta-learned noise in a latent
#   space of the policy, for exploration, a relative of sampling initializations.)
# * M. Plappert, R. Houthooft, P. Dhariwal, S. Sidor, R. Y. Chen, X. Chen, T. Asfour, P. Abbeel,
#   M. Andrychowicz. *Parameter Space Noise for Exploration.* ICLR 2018.

# %%
# NBVAL_IGNORE_OUTPUT
print(f"chapter ran in {time.perf_counter() - chapter_start:.0f} s")
