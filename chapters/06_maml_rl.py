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
# # 06 · MAML for reinforcement learning
#
# **Goal.** MAML (chapter 02) differentiates through a gradient step. In reinforcement
# learning that gradient step is a *policy-gradient estimate* (chapter 05), computed from
# episodes that the policy itself sampled. By the end of this chapter you can
#
# * write the MAML-RL objective $J(\phi(\theta))$ and its gradient, the **meta-policy
#   gradient** $(I + \alpha \nabla^2 J(\theta))^\top \nabla J(\phi)$;
# * split the Hessian of the expected return into its four terms
#   $H_1 + H_2 + H_{12} + H_{12}^\top$ and say where each comes from;
# * explain why differentiating the textbook policy-gradient surrogate twice, the "naive"
#   estimator, gives only $H_2$ and so a **biased** meta-gradient, and what LVC and DiCE
#   change; all of this *exactly*, on a Markov decision process small enough to list every
#   trajectory;
# * run the practical algorithm (a VPG inner step, a TRPO outer step) with the library, and
#   watch a meta-trained policy find a hidden goal in 2D navigation after one step.
#
# ## Background
#
# A **task** $\mathcal{T}_i$ is now a Markov decision process (MDP), for example "walk to the
# goal $g_i$", and the tasks share their states and actions. A policy $\pi_\theta(a \mid s)$
# acting in task $i$ produces trajectories $\tau = (s_0, a_0, \dots, s_{H-1}, a_{H-1})$ with
# probability $p_i(\tau \mid \theta)$; we use the symbols of chapter 05 throughout: rewards
# $r_t$, discount $\gamma$, horizon $H$, log-probabilities
# $\ell_t = \log \pi_\theta(a_t \mid s_t)$, returns-to-go $G_t = \sum_{t' \ge t} \gamma^{t'-t} r_{t'}$,
# and $\perp x$ for stop-gradient. The objective of task $i$ is its expected discounted
# return, which we **maximize**:
#
# $$J_i(\theta) = \mathbb{E}_{\tau \sim p_i(\cdot \mid \theta)}\Big[\sum_{t=0}^{H-1} \gamma^t r_t\Big].$$
#
# MAML-RL (Finn, Abbeel & Levine 2017, Sec. 3.2) keeps MAML's recipe:
#
# * **adaptation** is one (or $k$) policy-gradient ascent steps with the **inner step size**
#   $\alpha$: sample episodes of task $i$ with $\pi_\theta$, estimate the gradient, step;
#   the result is the adapted parameters $\phi_i$;
# * the **meta-objective** is the expected return *after* adaptation, $\sum_i J_i(\phi_i(\theta))$,
#   estimated from fresh episodes sampled with $\pi_{\phi_i}$, and maximized over $\theta$
#   by an outer optimizer (TRPO in the paper).
#
# What is new is the data. In supervised MAML the support set is fixed; here the episodes
# of the inner step are drawn *from the policy being differentiated*. Change $\theta$ and
# you change which episodes are likely. The gradient of $J$ accounts for that (the
# log-derivative trick of chapter 05); the question of this chapter is whether the
# *second* derivative, which the meta-gradient needs, does too.
#
# ## Key equations
#
# With exact gradients, one inner step and its meta-gradient are (the Hessian of a scalar is
# symmetric, so the transpose does nothing; we keep it because it is the chain rule):
#
# $$\phi(\theta) = \theta + \alpha \nabla J(\theta), \qquad
#   \nabla_\theta J(\phi(\theta)) = \big(I + \alpha \nabla^2 J(\theta)\big)^{\!\top} \nabla J(\phi).$$
#
# In practice $\nabla J$ is an estimate $\widehat{\nabla J}$, the gradient of a **surrogate**
# $\hat J$ computed from sampled episodes, and the meta-gradient uses the surrogate's Hessian
# $\nabla^2 \hat J$ in place of $\nabla^2 J$. With $R_t = \gamma^t G_t = \sum_{t' \ge t} \gamma^{t'} r_{t'}$
# (the reward-to-go, discounted from the start of the episode) and
# $W_{t} = \ell_0 + \dots + \ell_t$ ($W_{-1} = 0$), the exact Hessian has four terms
# (Rothfuss et al. 2019):
#
# $$\nabla^2 J = H_1 + H_2 + H_{12} + H_{12}^\top, \qquad
#   \begin{aligned}
#   H_1 &= \mathbb{E}\Big[\sum_t \nabla \ell_t \nabla \ell_t^\top R_t\Big], &
#   H_2 &= \mathbb{E}\Big[\sum_t \nabla^2 \ell_t \, R_t\Big], \\
#   H_{12} &= \mathbb{E}\Big[\sum_t \nabla W_{t-1} \nabla \ell_t^\top R_t\Big]
#          = \mathbb{E}\Big[\sum_t \Big(\sum_{t' < t} \nabla \ell_{t'}\Big) \nabla \ell_t^\top R_t\Big]
#          = \mathbb{E}\Big[\sum_t \gamma^t\, \nabla \ell_t\, \nabla Q_t(s_t, a_t)^\top\Big].
#   \end{aligned}$$
#
# The last form of $H_{12}$ is the one in Rothfuss et al., with the action value
# $Q_t(s, a) = \mathbb{E}[G_t \mid s_t = s, a_t = a]$ of chapter 05 (its gradient collects the
# later scores times their rewards-to-go; step 4 checks it).
#
# Three surrogates have the same value and the same gradient, and differ in expected
# Hessian:
#
# | surrogate | expected Hessian | expected meta-gradient (inner expectation exact) |
# |---|---|---|
# | `loglik`: $\sum_t \ell_t\, \perp R_t$ (the textbook one, "naive") | $H_2$ | biased |
# | `lvc`: $\sum_t \frac{\pi_\theta(a_t \mid s_t)}{\perp \pi_\theta(a_t \mid s_t)} \perp R_t$ (ProMP) | $H_1 + H_2$ | biased, low variance |
# | `dice`: $\sum_t \square(W_t)\, \gamma^t r_t$, $\square(x) = e^{x - \perp x}$ (DiCE) | $H_1 + H_2 + H_{12} + H_{12}^\top$ | unbiased |
#
# The derivation proves every line of this table in eight numbered steps, exactly; a ninth
# computes what happens to the meta-gradient when the inner step has only $N$ episodes.

# %%
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.func import grad, hessian, jacrev, vmap

from metarl_lite import seed_everything
from metarl_lite.report import PAPER_RL
from metarl_lite.rl import meta_rl, policies
from metarl_lite.rl.surrogates import dice, loglik, lvc
from metarl_lite.rl.training import TEST_SEED, evaluate, held_out_tasks, load_learner
from metarl_lite.runs import read_metrics
from metarl_lite.tasks import navigation
from metarl_lite.tasks.tabular import random_mdp
from metarl_lite.widgets import adapted_trajectories, navigation_widget, plot_trajectories

seed_everything(0)
chapter_start = time.perf_counter()

# %% [markdown]
# ## Derivation, exactly, on a tabular MDP
#
# The MDP is tiny, yet every term of the Hessian appears in it (the cross terms need at least
# two steps): $S = 2$ states, $A = 2$ actions, horizon $H = 2$ and $\gamma = 1$, so there are
# $(SA)^H = 16$ trajectories.
# `random_mdp` draws the initial distribution $\rho$ and every transition $P(\cdot \mid s, a)$
# from a flat Dirichlet distribution and the rewards $r(s, a) \sim \mathcal{N}(0, 1)$. The
# policy is a softmax over a table of logits $\theta \in \mathbb{R}^{S \times A}$ *shared by
# both steps*, like a neural policy (with one table per step the cross terms $H_{12}$ would
# couple different parameters; exercise 2). `mdp.value(theta)` computes $J(\theta)$ by the
# backward (Bellman) recursion, so `torch.func` gives its exact gradient and Hessian;
# `mdp.trajectories(theta)` lists all 16 trajectories with their probabilities
# $p_\theta(\tau)$; and `mdp.expectation(theta, estimate)` returns
# $\sum_\tau \perp p_\theta(\tau)\, \hat J(\tau)$, whose derivatives in $\theta$ are the
# *expected* derivatives of the estimator $\hat J$: no Monte Carlo error anywhere. Everything
# is float64.

# %%
# NBVAL_CHECK_OUTPUT
GAMMA = 1.0
mdp = random_mdp(2, 2, 2, seed=5)
theta = torch.as_tensor(seed_everything(1).standard_normal((2, 2)))  # logits [S, A]
tau = mdp.trajectories(theta)
D = theta.numel()


def J(th):
    """The exact expected return J(theta), by the backward recursion."""
    return mdp.value(th, gamma=GAMMA)


def flat_hessian(fn, th=theta):
    """The Hessian of a scalar function of the [S, A] logits, as a [D, D] matrix."""
    return hessian(fn)(th).reshape(D, D)


print(f"{len(tau.probs)} trajectories, probabilities summing to {tau.probs.sum():.12f}")
print(f"pi_theta(a | s) =\n{torch.softmax(theta, -1).numpy().round(3)}")
print(f"J(theta) = {J(theta):.6f}")

# %% [markdown]
# ### Step 1. The expected return is a sum over trajectories
#
# A trajectory has probability
# $p_\theta(\tau) = \rho(s_0) \prod_{t} \pi_\theta(a_t \mid s_t) \prod_{t < H-1} P(s_{t+1} \mid s_t, a_t)$,
# and only the policy factors depend on $\theta$: $\log p_\theta(\tau) = W_{H-1} + \text{const}$.
# The expected return is the probability-weighted sum of the returns,
#
# $$J(\theta) = \sum_\tau p_\theta(\tau) \sum_t \gamma^t r_t .$$
#
# The check: that sum over the 16 listed trajectories against the Bellman recursion.

# %%
returns = (GAMMA ** torch.arange(mdp.horizon) * tau.rewards).sum(1)  # [16]
assert torch.allclose((tau.probs * returns).sum(), J(theta), rtol=0, atol=1e-14)
print(f"sum_tau p(tau) R(tau) = {(tau.probs * returns).sum():.15f}")
print(f"Bellman recursion     = {J(theta):.15f}")

# %% [markdown]
# ### Step 2. The policy gradient, with rewards-to-go
#
# The reward $\gamma^t r_t$ depends only on the first part of the trajectory,
# $\tau_{0:t} = (s_0, a_0, \dots, s_t, a_t)$, whose probability depends on $\theta$ through
# $e^{W_t}$. So $\nabla p_\theta(\tau_{0:t}) = p_\theta(\tau_{0:t}) \nabla W_t$ (the
# log-derivative trick of chapter 05) and
#
# $$\nabla J = \sum_t \mathbb{E}\big[\gamma^t r_t \nabla W_t\big]
#            = \sum_t \sum_{t' \le t} \mathbb{E}\big[\nabla \ell_{t'}\, \gamma^t r_t\big]
#            = \mathbb{E}\Big[\sum_{t'} \nabla \ell_{t'} R_{t'}\Big],$$
#
# collecting, for each $t'$, the rewards that come at or after it: $R_{t'} = \sum_{t \ge t'} \gamma^t r_t$.
# The check: autodiff of the exact $J$ against the sum over trajectories of
# $p_\theta(\tau) \sum_t \nabla \ell_t R_t$, with the scores $\nabla \ell_t$ of every
# trajectory from `jacrev`. We keep the scores, their Hessians and $R_t$ for the next steps.

# %%
def log_probs(th):
    """l_t = log pi_theta(a_t | s_t) of every listed trajectory, [16, H]."""
    return mdp.log_probs(th, tau.states, tau.actions)


N_TAU, H = tau.states.shape
scores = jacrev(log_probs)(theta).reshape(N_TAU, H, D)  # grad l_t, [16, H, D]
score_hessians = jacrev(jacrev(log_probs))(theta).reshape(N_TAU, H, D, D)  # hess l_t, [16, H, D, D]
discount = GAMMA ** torch.arange(H)
R = (discount * tau.rewards).flip(1).cumsum(1).flip(1)  # R_t = sum_{t' >= t} gamma^t' r_t', [16, H]

exact_gradient = grad(J)(theta).reshape(D)
score_function = torch.einsum("n,nt,nti->i", tau.probs, R, scores)
assert torch.allclose(score_function, exact_gradient, rtol=0, atol=1e-14)
print(f"grad J (autodiff of the Bellman recursion)  = {exact_gradient.numpy().round(6)}")
print(f"E[sum_t grad l_t R_t] (sum over trajectories) = {score_function.numpy().round(6)}")

# %% [markdown]
# ### Step 3. The MAML-RL objective and the meta-policy gradient
#
# One exact inner step of gradient *ascent* gives $\phi(\theta) = \theta + \alpha \nabla J(\theta)$.
# Its Jacobian is $\partial \phi / \partial \theta = I + \alpha \nabla^2 J(\theta)$ (chapter 02,
# step 2, with the sign of ascent), and by the chain rule the meta-policy gradient is
#
# $$\nabla_\theta J(\phi(\theta)) = \Big(\frac{\partial \phi}{\partial \theta}\Big)^{\!\top} \nabla J(\phi)
#   = \big(I + \alpha \nabla^2 J(\theta)\big)^{\!\top} \nabla J(\phi).$$
#
# On this MDP we can compute the left side *exactly*, by autodiff through the exact $J$ twice
# (once inside $\phi$, once outside). The check: against the right side with the Hessian
# from `torch.func.hessian`. We take $\alpha = 1$, large enough that the curvature term is a
# sizeable part of the meta-gradient on this MDP (the experiment in step 7 varies it).

# %%
ALPHA = 1.0
eye = torch.eye(D, dtype=torch.float64)


def exact_meta_objective(th):
    """J(phi(theta)) with the exact inner step phi = theta + alpha grad J(theta)."""
    return J(th + ALPHA * grad(J)(th))


exact_hessian = flat_hessian(J)
phi = theta + ALPHA * grad(J)(theta)
grad_at_phi = grad(J)(phi).reshape(D)
exact_meta_gradient = grad(exact_meta_objective)(theta).reshape(D)
assert torch.allclose(exact_meta_gradient, (eye + ALPHA * exact_hessian).T @ grad_at_phi, rtol=0, atol=1e-14)
print(f"J(theta) = {J(theta):.4f} -> J(phi) = {J(phi):.4f} after one exact step")
print(f"meta-gradient  = {exact_meta_gradient.numpy().round(6)}")
print(f"grad J(phi)    = {grad_at_phi.numpy().round(6)}  (first order: drops alpha hess J)")

# %% [markdown]
# ### Step 4. The Hessian of the expected return, in four terms
#
# Differentiate step 2 once more. Since $\nabla p = p\, \nabla W_t$, the second derivative is
# $\nabla^2 p = p\,(\nabla^2 W_t + \nabla W_t \nabla W_t^\top)$, so
#
# $$\nabla^2 J = \sum_t \mathbb{E}\Big[\gamma^t r_t \big(\nabla^2 W_t + \nabla W_t \nabla W_t^\top\big)\Big].$$
#
# Expand $W_t = \sum_{u \le t} \ell_u$ and collect, for every pair of steps, the rewards that come
# at or after the later of them, as in step 2:
#
# * $\nabla^2 W_t = \sum_{u \le t} \nabla^2 \ell_u$ gives $\mathbb{E}[\sum_u \nabla^2 \ell_u R_u] = H_2$,
#   the curvature of the log-probabilities of the actions taken;
# * the diagonal pairs $u = v$ of $\nabla W_t \nabla W_t^\top = \sum_{u, v \le t} \nabla \ell_u \nabla \ell_v^\top$
#   give $\mathbb{E}[\sum_u \nabla \ell_u \nabla \ell_u^\top R_u] = H_1$;
# * the pairs $u < v$ give $\mathbb{E}[\sum_v (\sum_{u < v} \nabla \ell_u) \nabla \ell_v^\top R_v] = H_{12}$,
#   and the pairs $u > v$ its transpose.
#
# $H_2$ is the only term in which the trajectory distribution stays put: $H_1$, $H_{12}$ and
# $H_{12}^\top$ are products of scores, and they exist because changing $\theta$ changes which
# trajectories are sampled. $H_{12}$ couples an action with the *earlier* actions that led to
# its state. The checks: the three terms from the listed trajectories, and their sum against
# the exact Hessian of the Bellman recursion, at the chapter's $\gamma = 1$ and, with $R_t$
# recomputed, at $\gamma = 0.9$; and, at $\gamma = 0.9$, $H_{12}$ in Rothfuss et al.'s form
# $\mathbb{E}[\sum_t \gamma^t \nabla \ell_t \nabla Q_t(s_t, a_t)^\top]$, with
# $Q_t(s, a) = r(s, a) + \gamma \sum_{s'} P(s' \mid s, a) V_{t+1}(s')$ from the backward
# recursion and its gradient by autodiff. Each term is about half the size of the Hessian on
# this MDP, so dropping any of them is a visible error.

# %%
past_scores = scores.cumsum(1) - scores  # grad W_{t-1} = sum_{t' < t} grad l_t', [16, H, D]


def hessian_terms(gamma):
    """H1, H2, H12 ([D, D] each) from the listed trajectories, with R_t = sum_{t' >= t} gamma^t' r_t'."""
    R_gamma = (gamma ** torch.arange(H, dtype=torch.float64) * tau.rewards).flip(1).cumsum(1).flip(1)
    return (torch.einsum("n,nt,nti,ntj->ij", tau.probs, R_gamma, scores, scores),
            torch.einsum("n,nt,ntij->ij", tau.probs, R_gamma, score_hessians),
            torch.einsum("n,nt,nti,ntj->ij", tau.probs, R_gamma, past_scores, scores))


def action_values(th, gamma):
    """Q_t(s_t, a_t) of every listed trajectory, [16, H], by the backward recursion (V_H = 0)."""
    next_values = torch.cat([mdp.state_values(th, gamma=gamma)[1:], torch.zeros(1, mdp.n_states, dtype=th.dtype)])
    q = mdp.rewards + gamma * torch.einsum("sap,tp->tsa", mdp.transitions, next_values)  # Q_t(s, a), [H, S, A]
    return q[torch.arange(H), tau.states, tau.actions]


H1, H2, H12 = hessian_terms(GAMMA)
assert torch.allclose(H1 + H2 + H12 + H12.T, exact_hessian, rtol=0, atol=1e-14)
scale = exact_hessian.norm()
for name, term in (("H1", H1), ("H2", H2), ("H12 + H12^T", H12 + H12.T)):
    print(f"|{name}| / |hess J| = {term.norm() / scale:.3f}")
    assert 0.3 * scale < term.norm() < 0.7 * scale

H1_09, H2_09, H12_09 = hessian_terms(0.9)
hessian_09 = flat_hessian(lambda th: mdp.value(th, gamma=0.9))
grad_Q = jacrev(action_values)(theta, 0.9).reshape(N_TAU, H, D)  # grad Q_t(s_t, a_t), [16, H, D]
H12_from_Q = torch.einsum("n,t,nti,ntj->ij", tau.probs, 0.9 ** torch.arange(H, dtype=torch.float64), scores, grad_Q)
print(f"gamma = 0.9: |H1 + H2 + H12 + H12^T - hess J| = {(H1_09 + H2_09 + H12_09 + H12_09.T - hessian_09).norm():.1e}, "
      f"|E[sum_t gamma^t grad l_t grad Q_t^T] - H12| = {(H12_from_Q - H12_09).norm():.1e} "
      f"(|H12| = {H12_09.norm():.2f})")
assert torch.allclose(H1_09 + H2_09 + H12_09 + H12_09.T, hessian_09, rtol=0, atol=1e-14)
assert torch.allclose(H12_from_Q, H12_09, rtol=0, atol=1e-14)

# %% [markdown]
# ### Step 5. Three surrogates, one gradient
#
# A **surrogate** is a scalar computed from sampled episodes whose derivatives are the
# estimators we want. The library's three (`metarl_lite.rl.surrogates`) share one form: for an
# episode,
#
# $$\hat J = \sum_t \gamma^t r_t + \sum_t c_t\, R_t ,$$
#
# where the **magic term** $c_t$ has value 0 and gradient $\nabla \ell_t$. With the **magic
# box** $\square(x) = e^{x - \perp x}$, whose value is 1 and whose gradient is
# $\square(x) \nabla x$ (Foerster et al. 2018):
#
# * `loglik`: $c_t = \ell_t - \perp \ell_t$, the textbook REINFORCE surrogate
#   $\sum_t \ell_t \perp R_t$ up to a constant;
# * `lvc`: $c_t = \square(\ell_t) - 1 = \pi_\theta(a_t \mid s_t) / \perp \pi_\theta(a_t \mid s_t) - 1$;
# * `dice`: $c_t = \square(W_t) - \square(W_{t-1})$; summing by parts turns
#   $\sum_t c_t R_t$ into $\sum_t \square(W_t) \gamma^t r_t - \sum_t \gamma^t r_t$, DiCE.
#
# Every $\nabla c_t = \nabla \ell_t$ at the point of evaluation, so all three have the gradient
# $\sum_t \nabla \ell_t R_t$ of step 2, and in expectation the exact $\nabla J$. The check:
# the expected gradient of each, through `mdp.expectation`, against the exact gradient; and
# the value of each, trajectory by trajectory, against the return.

# %%
SURROGATES = {"loglik": loglik, "lvc": lvc, "dice": dice}


def expected_surrogate(name):
    """theta -> E_tau[J^(theta; tau)] = sum_tau stopgrad(p(tau)) J^(theta; tau), exactly."""
    surrogate = SURROGATES[name]
    return lambda th: mdp.expectation(th, lambda lp, one: surrogate(lp, one.rewards, one.masks, gamma=GAMMA))


for name, surrogate in SURROGATES.items():
    per_trajectory = torch.stack([surrogate(log_probs(theta)[i:i + 1], tau.rewards[i:i + 1], tau.masks[i:i + 1],
                                            gamma=GAMMA) for i in range(N_TAU)])
    assert torch.allclose(per_trajectory, returns, rtol=0, atol=1e-14)
    expected_gradient = grad(expected_surrogate(name))(theta).reshape(D)
    assert torch.allclose(expected_gradient, exact_gradient, rtol=0, atol=1e-14)
    print(f"{name:>6}: value = return, E[gradient] - grad J = {(expected_gradient - exact_gradient).abs().max():.1e}")

# %% [markdown]
# ### Step 6. Their Hessians: $H_2$, $H_1 + H_2$, and the exact one
#
# The surrogates differ from the second derivative on. Since $\nabla^2 \hat J = \sum_t \nabla^2 c_t\, R_t$
# and $\nabla^2 \square(x) = \square(x)\,(\nabla^2 x + \nabla x \nabla x^\top)$, at the point of
# evaluation ($\square = 1$):
#
# * `loglik`: $\nabla^2 c_t = \nabla^2 \ell_t$, so $\mathbb{E}[\nabla^2 \hat J] = H_2$;
# * `lvc`: $\nabla^2 c_t = \nabla^2 \ell_t + \nabla \ell_t \nabla \ell_t^\top$, so $H_1 + H_2$;
# * `dice`: $\nabla^2 c_t = (\nabla^2 W_t + \nabla W_t \nabla W_t^\top) - (\nabla^2 W_{t-1} + \nabla W_{t-1} \nabla W_{t-1}^\top)
#   = \nabla^2 \ell_t + \nabla \ell_t \nabla \ell_t^\top + \nabla W_{t-1} \nabla \ell_t^\top + \nabla \ell_t \nabla W_{t-1}^\top$,
#   so $H_1 + H_2 + H_{12} + H_{12}^\top$, the exact $\nabla^2 J$ of step 4.
#
# This is why the naive estimator is biased. Differentiating $\sum_t \ell_t \perp R_t$ twice
# treats the sampled episodes as a fixed dataset: it sees how the log-probability of the
# *actions taken* curves, but not that a different $\theta$ would have sampled *different
# episodes*, which is exactly what the score products $H_1$ and $H_{12}$ measure. Its
# gradient is right only because the log-derivative trick put the score in by hand; the
# trick is not applied again to the second derivative. LVC puts back the per-step products
# and drops the cross-step ones, whose estimate has high variance (step 8); DiCE puts back
# everything, because $\square(W_t)$ carries the probability of the whole history up to $t$
# into every derivative. The check: the expected Hessian of each surrogate, exactly.

# %%
expected_hessians = {name: flat_hessian(expected_surrogate(name)) for name in SURROGATES}
assert torch.allclose(expected_hessians["loglik"], H2, rtol=0, atol=1e-13)
assert torch.allclose(expected_hessians["lvc"], H1 + H2, rtol=0, atol=1e-13)
assert torch.allclose(expected_hessians["dice"], exact_hessian, rtol=0, atol=1e-13)
for name, expected_hessian in expected_hessians.items():
    print(f"{name:>6}: |E[hess J^] - hess J| / |hess J| = {(expected_hessian - exact_hessian).norm() / scale:.3f}")
assert (expected_hessians["loglik"] - exact_hessian).norm() > 0.3 * scale
assert (expected_hessians["lvc"] - exact_hessian).norm() > 0.3 * scale

# %% [markdown]
# ### Step 7. What the bias does to the meta-gradient
#
# Take the inner step on a surrogate, with its expectation computed exactly, that is, with
# infinitely many inner episodes: $\hat\phi(\theta) = \theta + \alpha \nabla_\theta \mathbb{E}_\perp[\hat J](\theta)$,
# where $\mathbb{E}_\perp$ holds the trajectory probabilities constant (`mdp.expectation`).
# By step 5 its *value* is the exact $\phi$ for every surrogate; by step 6 its *Jacobian* is
# $I + \alpha\, \mathbb{E}[\nabla^2 \hat J]$. The meta-gradient that an estimator delivers is
# therefore
#
# $$g_{\text{est}} = \big(I + \alpha\, \mathbb{E}[\nabla^2 \hat J]\big)^{\!\top} \nabla J(\phi), \qquad
#   g_{\text{est}} - g_{\text{exact}} = \alpha\, \big(\mathbb{E}[\nabla^2 \hat J] - \nabla^2 J\big)^{\!\top} \nabla J(\phi),$$
#
# which is $-\alpha (H_1 + H_{12} + H_{12}^\top) \nabla J(\phi)$ for `loglik` and
# $-\alpha (H_{12} + H_{12}^\top) \nabla J(\phi)$ for `lvc`. This error is a **bias**: more
# inner episodes do not remove it. (With $N$ inner episodes $\hat\phi$ is random and
# correlated with the Hessian estimate: the meta-gradient has variance and, even for DiCE, an
# $O(1/N)$ bias; the finite-batch objective $\mathbb{E}_{\mathcal{D}}[J(\hat\phi_{\mathcal{D}})]$
# also has a score term $\mathbb{E}_{\mathcal{D}}[J(\hat\phi_{\mathcal{D}}) \nabla \log p(\mathcal{D} \mid \theta)]$
# (Stadie et al. 2018; Rothfuss et al. 2019, formulation II). Step 9 computes both exactly.)
# The check: autodiff of $\theta \mapsto J(\hat\phi(\theta))$, through the exact outer $J$, for
# each surrogate, against the formula with the expected Hessians of step 6; DiCE's against the
# exact meta-gradient of step 3.

# %%
def estimator_meta_gradient(name, alpha=ALPHA):
    """grad_theta J(theta + alpha grad E[J^](theta)): the meta-gradient of `name`, inner expectation exact."""
    surrogate = expected_surrogate(name)
    return grad(lambda th: J(th + alpha * grad(surrogate)(th)))(theta).reshape(D)


def angle(a, b):
    """The angle between two vectors, in degrees."""
    return torch.rad2deg(torch.arccos((a @ b / (a.norm() * b.norm())).clamp(-1, 1))).item()


meta_gradients = {name: estimator_meta_gradient(name) for name in SURROGATES}
for name, g in meta_gradients.items():
    formula = (eye + ALPHA * expected_hessians[name]).T @ grad_at_phi
    assert torch.allclose(g, formula, rtol=0, atol=1e-13)
    error = ((g - exact_meta_gradient).norm() / exact_meta_gradient.norm()).item()
    print(f"{name:>6}: relative error {error:.2e}, angle to the exact meta-gradient "
          f"{angle(g, exact_meta_gradient):5.2f} degrees")
assert torch.allclose(meta_gradients["dice"], exact_meta_gradient, rtol=0, atol=1e-13)
for name in ("loglik", "lvc"):
    assert (meta_gradients[name] - exact_meta_gradient).norm() > 0.1 * exact_meta_gradient.norm()

# %% [markdown]
# The error is in length as well as in direction (compare the relative errors with the
# angles). For small steps the bias grows in proportion to $\alpha$: at $\alpha = 0$ every
# estimator gives $\nabla J(\theta)$, and the more an inner step moves, the more its
# curvature matters. The formula of step 7 makes a sweep over $\alpha$ cheap (it needs only
# $\nabla J(\phi)$ per $\alpha$; we checked it against autodiff at $\alpha = 1$ above, and
# check it again at one more point here).

# %%
alphas = np.logspace(-2, np.log10(3), 25)
sweep = {name: [] for name in SURROGATES}
for alpha in alphas:
    phi_alpha = theta + alpha * grad(J)(theta)
    g_phi = grad(J)(phi_alpha).reshape(D)
    exact = (eye + alpha * exact_hessian).T @ g_phi
    for name in SURROGATES:
        g = (eye + alpha * expected_hessians[name]).T @ g_phi
        sweep[name].append(max(((g - exact).norm() / exact.norm()).item(), 1e-17))
check_alpha = alphas[5]
assert torch.allclose(estimator_meta_gradient("loglik", check_alpha),
                      (eye + check_alpha * H2).T @ grad(J)(theta + check_alpha * grad(J)(theta)).reshape(D),
                      rtol=0, atol=1e-13)

fig, ax = plt.subplots(figsize=(7, 4))
for name, errors in sweep.items():
    ax.loglog(alphas, errors, marker=".", label=name)
ax.axvline(ALPHA, color="grey", linestyle=":", label=f"alpha = {ALPHA:g} (step 7)")
ax.set_xlabel("inner step size alpha")
ax.set_ylabel("|g_est - g_exact| / |g_exact|")
ax.set_title("Bias of the expected meta-gradient on the tabular MDP (DiCE: rounding error)")
ax.legend()
plt.show()
assert sweep["loglik"][0] < sweep["loglik"][-1] and max(sweep["dice"]) < 1e-12

# %% [markdown]
# ### Step 8. Bias and variance, exactly
#
# DiCE's Hessian estimate is unbiased; why would anyone use LVC? Because estimates come from
# $N$ sampled episodes, and DiCE's Hessian estimate has much more **variance**: its cross
# terms multiply the scores of different steps, and there are $O(H^2)$ of them. With one
# episode's Hessian
# $\hat H(\tau)$, the $N$-episode estimate is their mean, so its mean squared error splits
# exactly into bias and variance:
#
# $$\mathbb{E}\,\big\|\hat H_N - \nabla^2 J\big\|^2 = \underbrace{\big\|\mathbb{E}[\hat H] - \nabla^2 J\big\|^2}_{\text{bias}^2}
#   + \frac{1}{N}\, \underbrace{\mathbb{E}\,\big\|\hat H(\tau) - \mathbb{E}[\hat H]\big\|^2}_{\text{per-episode variance } \sigma^2}$$
#
# (Frobenius norms). On the tabular MDP both terms are finite sums over the 16 trajectories.
# The check: the expected per-episode Hessians against step 6; then Monte Carlo with the
# library surrogates on $N$ sampled episodes, whose Hessian is the mean of the sampled
# per-episode ones (checked by autodiff once), against the formula.

# %%
per_episode = {  # hess J^(tau) of every listed trajectory, [16, D, D]
    name: torch.stack([flat_hessian(lambda th: surrogate(mdp.log_probs(th, tau.states[i:i + 1], tau.actions[i:i + 1]),
                                                         tau.rewards[i:i + 1], tau.masks[i:i + 1], gamma=GAMMA))
                       for i in range(N_TAU)])
    for name, surrogate in SURROGATES.items()
}
bias2, variance = {}, {}
for name, hessians in per_episode.items():
    mean = torch.einsum("n,nij->ij", tau.probs, hessians)
    assert torch.allclose(mean, expected_hessians[name], rtol=0, atol=1e-13)
    bias2[name] = ((mean - exact_hessian).norm() ** 2 / scale**2).item()
    variance[name] = (torch.einsum("n,n->", tau.probs, (hessians - mean).flatten(1).norm(dim=1) ** 2) / scale**2).item()
    print(f"{name:>6}: relative bias^2 {bias2[name]:.3f}, per-episode variance {variance[name]:.3f}")

# N sampled episodes: the surrogate's Hessian on the batch is the mean of the per-episode Hessians.
sample_rng = np.random.default_rng(0)
batch = torch.as_tensor(sample_rng.choice(N_TAU, size=1000, p=tau.probs.numpy()))
on_batch = flat_hessian(lambda th: dice(mdp.log_probs(th, tau.states[batch], tau.actions[batch]), tau.rewards[batch],
                                        tau.masks[batch], gamma=GAMMA))
assert torch.allclose(on_batch, per_episode["dice"][batch].mean(0), rtol=0, atol=1e-12)

sizes, repeats = np.array([3, 10, 30, 100, 300, 1000, 3000, 10000]), 400
monte_carlo = {name: [] for name in SURROGATES}
for n in sizes:
    counts = torch.as_tensor(sample_rng.multinomial(n, tau.probs.numpy(), size=repeats), dtype=torch.float64) / n
    for name, hessians in per_episode.items():
        estimates = torch.einsum("rn,nij->rij", counts, hessians)  # repeats x the N-episode Hessian
        monte_carlo[name].append(((estimates - exact_hessian).flatten(1).norm(dim=1) ** 2).mean().item() / scale**2)

fig, ax = plt.subplots(figsize=(7, 4))
grid = np.logspace(0, 4.2, 100)
for (name, mse), color in zip(monte_carlo.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
    predicted = bias2[name] + variance[name] / sizes
    ax.loglog(grid, np.sqrt(bias2[name] + variance[name] / grid), color=color, label=f"{name}: bias^2 + sigma^2 / N")
    ax.loglog(sizes, np.sqrt(mse), "o", color=color, label=f"{name}: Monte Carlo ({repeats} batches per N)")
    assert np.allclose(mse, predicted, rtol=0.15), (name, mse, predicted)
ax.set_xlabel("episodes N in the batch")
ax.set_ylabel("relative RMS error of the Hessian estimate")
ax.set_title("LVC: lower variance, a floor of bias; DiCE: no floor")
ax.legend(fontsize="small")
plt.show()

crossing = (variance["dice"] - variance["lvc"]) / bias2["lvc"]
print(f"DiCE's Hessian estimate beats LVC's in mean squared error from N = {crossing:.0f} episodes on")
assert variance["lvc"] < variance["dice"] and bias2["dice"] < 1e-25

# %% [markdown]
# On this tiny MDP the crossing comes early (the $N$ printed above); with long horizons and neural
# policies DiCE's variance grows quickly (its cross terms sum over pairs of steps), which is
# why ProMP (Rothfuss et al. 2019) accepts LVC's bias in exchange for its lower variance, and why later work
# adds baselines to DiCE (Mao et al. 2019; Farquhar et al. 2019; the library's `dice` takes
# one, and the module docstring of `metarl_lite.rl.surrogates` shows that a state baseline
# leaves the expected Hessians of LVC and DiCE unchanged).

# %% [markdown]
# ### Step 9. Finitely many inner episodes
#
# Steps 7 and 8 treated the inner step and the Hessian estimate separately. In the algorithm
# both come from the same $N$ episodes $\mathcal{D} = (\tau_1, \dots, \tau_N)$, drawn from
# $p_\theta$. The inner step is $\hat\phi_{\mathcal{D}} = \theta + \alpha\, \hat g_{\mathcal{D}}$ with
# $\hat g_{\mathcal{D}} = \frac1N \sum_i g(\tau_i)$ and $g(\tau) = \sum_t \nabla \ell_t R_t$ (the same for the three
# surrogates, step 5), and an estimator delivers
#
# $$\hat g^{\text{est}}_{\mathcal{D}} = \big(I + \alpha\, \hat H^{\text{est}}_{\mathcal{D}}\big)^{\!\top} \nabla J(\hat\phi_{\mathcal{D}}),$$
#
# where $\hat H^{\text{est}}_{\mathcal{D}}$ is the mean of the per-episode Hessians of step 8. Two things change.
#
# * **Its average is not step 7's $g_{\text{est}}$.** $\hat\phi_{\mathcal{D}}$ is random, $\nabla J$ is not linear,
#   and $\hat H_{\mathcal{D}}$ and $\hat\phi_{\mathcal{D}}$ come from the same episodes, so
#   $\mathbb{E}_{\mathcal{D}}[\hat g^{\text{est}}_{\mathcal{D}}] \ne \big(I + \alpha\, \mathbb{E}[\hat H^{\text{est}}]\big)^{\top} \nabla J(\phi)$.
#   Even DiCE's average misses the exact meta-gradient $\nabla_\theta J(\phi(\theta))$ of step 3; the miss
#   vanishes only as $N \to \infty$, like $1/N$ (the cell prints $N$ times DiCE's error, whose growth
#   slows toward a constant).
# * **The objective changes.** What an inner step on $N$ episodes achieves on average is
#   $J_N(\theta) = \mathbb{E}_{\mathcal{D} \sim p_\theta}[J(\hat\phi_{\mathcal{D}}(\theta))]$ (formulation II of
#   Rothfuss et al. 2019), and its gradient has two parts:
#
#   $$\nabla J_N(\theta) = \mathbb{E}_{\mathcal{D}}\big[(I + \alpha\, \hat H^{\texttt{loglik}}_{\mathcal{D}})^{\top} \nabla J(\hat\phi_{\mathcal{D}})\big]
#     + \mathbb{E}_{\mathcal{D}}\big[J(\hat\phi_{\mathcal{D}})\, \nabla \log p(\mathcal{D} \mid \theta)\big],
#     \qquad \nabla \log p(\mathcal{D} \mid \theta) = \sum_{i=1}^N \sum_t \nabla \ell_t(\tau_i).$$
#
#   The first part is the chain rule with the episodes held fixed: then $\hat\phi_{\mathcal{D}}(\theta)$ is an
#   ordinary function of $\theta$, with the Jacobian $I + \alpha\, \frac1N \sum_i \sum_t \nabla^2 \ell_t(\tau_i) R_t$,
#   which is `loglik`'s Hessian (the extra terms of LVC and DiCE come from their stop-gradients, not from this
#   function). The second part, the **score term**, is there because $\pi_\theta$ draws the episodes (Stadie et al.
#   2018). No surrogate's Hessian supplies it; DiCE's extra terms $\alpha (H_1 + H_{12} + H_{12}^\top)^\top \nabla J(\phi)$
#   are its limit for large $N$, because $\mathbb{E}[\nabla \log p(\tau)\, g(\tau)^\top] = H_1 + H_{12} + H_{12}^\top$.
#
# On the tabular MDP all of this is exact. A batch of $N$ episodes is a multiset of the 16 trajectories
# with a multinomial probability, so $\mathbb{E}_{\mathcal{D}}$ is a finite sum (54,264 batches for $N = 6$). The
# checks: the formula for $\hat g^{\text{est}}_{\mathcal{D}}$ against autodiff through the library's `dice` on one
# batch; $\mathbb{E}[\nabla \log p(\tau)\, g(\tau)^\top]$ against $H_1 + H_{12} + H_{12}^\top$; $\nabla J_N$ against
# central finite differences of $J_N$ for $N = 1, 2$; and how far each estimator's average is from both targets.

# %%
def batches(n):
    """Every batch of n episodes, as counts [B, 16] of the listed trajectories (stars and bars)."""
    bars = np.array(list(itertools.combinations(range(n + N_TAU - 1), N_TAU - 1)))  # [B, 15]
    return torch.as_tensor(np.diff(bars, axis=1, prepend=-1, append=n + N_TAU - 1) - 1, dtype=torch.float64)


def batch_probabilities(counts, probs):
    """The multinomial probability of each batch: n! / prod_k c_k! prod_k p_k^c_k, [B]."""
    n = counts[0].sum()
    return (torch.lgamma(n + 1) - torch.lgamma(counts + 1).sum(1) + counts @ probs.log()).exp()


def per_trajectory_gradients(th):
    """g(tau) = sum_t grad l_t R_t at th for every listed trajectory, [16, D]."""
    return torch.einsum("nt,nti->ni", R, jacrev(log_probs)(th).reshape(N_TAU, H, D))


def batch_steps(th, counts):
    """phi^_D = th + alpha mean_i g(tau_i) for every batch, as [B, S, A] logits."""
    return th + ALPHA * (counts @ per_trajectory_gradients(th) / counts[0].sum()).reshape(-1, *th.shape)


def objective_N(th, counts):
    """J_N(th) = sum_D p_th(D) J(phi^_D(th)), the expected return after an inner step on N episodes."""
    return batch_probabilities(counts, mdp.trajectories(th).probs) @ vmap(J)(batch_steps(th, counts))


g_tau, score_tau = per_trajectory_gradients(theta), scores.sum(1)  # g(tau) and grad log p(tau), [16, D]
assert torch.allclose(torch.einsum("n,ni,nj->ij", tau.probs, score_tau, g_tau), H1 + H12 + H12.T, rtol=0, atol=1e-14)

pair = torch.tensor([3, 9])  # one batch of N = 2 episodes: the library's dice on it, differentiated twice
inner_dice = lambda th: dice(log_probs(th)[pair], tau.rewards[pair], tau.masks[pair], gamma=GAMMA)  # noqa: E731
phi_pair = theta + ALPHA * grad(inner_dice)(theta)
assert torch.allclose(phi_pair, batch_steps(theta, torch.bincount(pair, minlength=N_TAU).double()[None])[0],
                      rtol=0, atol=1e-14)
assert torch.allclose(grad(lambda th: J(th + ALPHA * grad(inner_dice)(th)))(theta).reshape(D),
                      (eye + ALPHA * per_episode["dice"][pair].mean(0)).T @ grad(J)(phi_pair).reshape(D),
                      rtol=0, atol=1e-14)

finite_sizes = range(1, 7)
errors = {target: {name: [] for name in SURROGATES} for target in ("exact", "J_N")}
for n in finite_sizes:
    counts = batches(n)
    weights = batch_probabilities(counts, tau.probs)
    assert abs(weights.sum() - 1) < 1e-13
    phi_batch = batch_steps(theta, counts)
    grads_at_steps = vmap(grad(J))(phi_batch).reshape(-1, D)  # grad J(phi^_D), [B, D]
    averages = {  # E_D[(I + alpha H^_D)^T grad J(phi^_D)] of each estimator, H^_D the mean per-episode Hessian
        name: torch.einsum("b,bji,bj->i", weights, eye + ALPHA * torch.einsum("bn,nij->bij", counts, hessians) / n,
                           grads_at_steps)
        for name, hessians in per_episode.items()}
    score_term = torch.einsum("b,b,bi->i", weights, vmap(J)(phi_batch), counts @ score_tau)
    grad_J_N = averages["loglik"] + score_term
    if n <= 2:
        h = 1e-5
        shifts = h * eye.reshape(D, *theta.shape)
        finite_differences = torch.stack([objective_N(theta + e, counts) - objective_N(theta - e, counts)
                                          for e in shifts]) / (2 * h)
        assert torch.allclose(finite_differences, grad_J_N, rtol=0, atol=1e-9), (n, finite_differences, grad_J_N)
    for name, average in averages.items():
        errors["exact"][name].append(((average - exact_meta_gradient).norm() / exact_meta_gradient.norm()).item())
        errors["J_N"][name].append(((average - grad_J_N).norm() / grad_J_N.norm()).item())

print("relative error of E_D[meta-gradient] against grad J(phi(theta)) | against grad J_N(theta)")
for name in SURROGATES:
    print(f"{name:>6}: " + "  ".join(f"N={n}: {a:.2f} | {b:.2f}" for n, a, b in
                                     zip(finite_sizes, errors["exact"][name], errors["J_N"][name])))

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for (name, color) in zip(SURROGATES, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
    infinite = ((meta_gradients[name] - exact_meta_gradient).norm() / exact_meta_gradient.norm()).item()
    axes[0].plot(finite_sizes, errors["exact"][name], "o-", color=color, label=name)
    axes[0].axhline(infinite, color=color, linestyle=":", label=f"{name}, N = infinity (step 7)")
    axes[1].plot(finite_sizes, errors["J_N"][name], "o-", color=color, label=name)
axes[0].set_title("against the exact meta-gradient grad J(phi(theta))")
axes[1].set_title("against grad J_N, the gradient of the N-episode objective")
for ax in axes:
    ax.set_xlabel("inner episodes N")
    ax.set_ylabel("relative error of E_D[meta-gradient]")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
plt.tight_layout()
plt.show()

dice_errors = np.array(errors["exact"]["dice"])
print("N times DiCE's error against the exact meta-gradient:", (np.array(finite_sizes) * dice_errors).round(3))
assert np.all(np.diff(dice_errors) < 0) and dice_errors[0] > 0.1, dice_errors
assert abs(finite_sizes[-1] * dice_errors[-1] / (finite_sizes[-2] * dice_errors[-2]) - 1) < 0.05, "O(1/N)"
assert all(errors["exact"]["dice"][i] > errors["exact"]["loglik"][i] for i in (0, 1))
assert errors["exact"]["dice"][-1] < errors["exact"]["loglik"][-1]
assert min(min(e) for e in errors["J_N"].values()) > 0.01, "no estimator's average is grad J_N"

# %% [markdown]
# With one or two inner episodes, DiCE's average is *further* from the exact meta-gradient than
# `loglik`'s: its extra Hessian terms are computed from the same few episodes as $\hat\phi$. As $N$
# grows it overtakes `loglik` and heads for step 7's zero, while `loglik` and `lvc` head for their
# step-7 biases. Against $\nabla J_N$, the gradient of what an $N$-episode inner step achieves, no
# estimator is unbiased: `loglik` lacks the score term, and DiCE supplies only its large-$N$ limit.
#
# ## The practical algorithm
#
# On real tasks there is no exact $J$. MAML-RL as implemented by Finn et al. (and followed
# by the library, `metarl_lite.rl.meta_rl`) estimates both gradients from episodes:
#
# * **Inner step.** A vanilla policy-gradient (VPG) step on $N = 20$ episodes per task:
#   $\phi_i = \theta + \alpha \nabla_\theta \hat J_i(\theta)$ with
#   $\hat J_i(\theta) = \operatorname{mean}_{t}\, c_t\, \hat A_t$, the mean over the real steps
#   of task $i$'s episodes, with $\alpha = 0.1$ in the paper (App. A.2; the library's default
#   `meta_rl.INNER_LR`) and $\alpha = 0.5$ in the released code for 2D navigation, which our
#   `paper` configuration follows. The advantages $\hat A_t$ are GAE with
#   $\gamma = 0.99$, $\lambda = 1$ (so $G_t - b(t, o_t)$, with $o_t$ the observation) on a
#   **linear feature baseline** $b(t, o_t)$ fit to the task's episodes (features
#   $[o_t, o_t^2, t/100, (t/100)^2, (t/100)^3, 1]$), then
#   **normalized** to mean 0 and standard deviation 1 over the task's steps (chapter 05). The
#   normalization makes $\alpha$ independent of the scale of the rewards. $c_t$ is the magic
#   term of the chosen estimator (`vpg_inner_loss(..., estimator=...)`): the inner step's
#   *value* is the same for all three, its *derivative*, and so the meta-gradient, is not.
# * **Outer step.** TRPO (Schulman et al. 2015) on the post-update surrogate: with fresh
#   episodes $\mathcal{D}'_i$ sampled by $\pi_{\phi_i}$ and their advantages $\hat A'_t$,
#   maximize $L(\theta) = \operatorname{mean}_{i, t}\, \frac{\pi_{\phi_i(\theta)}(a_t \mid s_t)}{\pi_{\phi_i^{old}}(a_t \mid s_t)} \hat A'_t$
#   subject to the mean KL divergence between the old and the new post-update policies being
#   at most $\delta = 0.01$. Its gradient at $\theta_{old}$ is the meta-policy gradient of
#   step 3, $\sum_i (I + \alpha \nabla^2 \hat J_i)^\top \nabla_{\phi_i} L$. The library computes the
#   Fisher-vector products of TRPO's conjugate gradient exactly, by double backward through the
#   adaptation, on a subsample of the meta-batch (`fisher_tasks`: 5 of the 20 tasks in the
#   `paper` configuration of 2D navigation); the MAML paper's implementation computed these
#   Hessian-vector products by finite differences.
#
# ## Pseudocode
#
# MAML-RL (Finn et al. 2017, Algorithm 3) with the TRPO outer step of its experiments:
#
# ```
# input: task distribution p(T), inner step size alpha, trust region delta, estimator
# initialize theta (a Gaussian policy whose mean is a 2-64-64-2 tanh MLP, as in pytorch-maml-rl;
#                   the MAML paper used two hidden layers of 100 ReLU units)
# repeat
#     sample a meta-batch of tasks T_1 ... T_n ~ p(T)
#     for each task T_i:
#         D_i  = N episodes of pi_theta in T_i;  A_i = normalized GAE advantages of D_i
#         phi_i(theta) = theta + alpha * grad_theta mean_t c_t(theta) A_t       (keep the graph)
#         D'_i = N episodes of pi_phi_i in T_i;  A'_i = their advantages
#     L(theta)  = mean over i, t in D'_i of pi_phi_i(theta)(a_t | s_t) / pi_phi_i,old(a_t | s_t) * A'_t
#     KL(theta) = mean over i, s in D'_i of KL(pi_phi_i,old(. | s) || pi_phi_i(theta)(. | s))
#     g = grad L(theta_old);  F = hess KL(theta_old) on the first fisher_tasks tasks
#                             (F v by double backward, never F; the MAML paper: finite differences)
#     d = F^-1 g by 10 conjugate-gradient iterations
#     theta = theta_old + s * sqrt(2 delta / d^T F d) * d,  s = 1, 1/2, 1/4, ... until L improves and KL <= delta
# ```
#
# ## Library call
#
# `meta_rl.sample_path(env, params, inner_lr=alpha, inner_steps=k, horizon=H, seed=s)` samples
# $\mathcal{D}_i$, steps, and samples $\mathcal{D}'_i$ for every task of a vector env at once;
# `meta_rl.meta_surrogate(theta, path, estimator=...)` re-derives $\phi_i(\theta)$ from the
# stored pre-update episodes and returns $L(\theta)$; `meta_rl.maml_rl_step` wraps both in a
# TRPO step. The check, on a small float64 policy and 4 navigation tasks: autograd through
# `meta_surrogate` gives $\sum_i \nabla_{\phi_i} L + \alpha \sum_i \nabla^2 \hat J_i\, \nabla_{\phi_i} L$,
# with the Hessian-vector products by double backward of the inner loss (chapter 02, step 4),
# for each estimator. On one sample the three differ; most of that difference is variance
# (DiCE's especially), and step 7's bias shows only in expectation. (Here
# `vpg_inner_loss(..., estimator="dice")` puts DiCE's magic terms on normalized advantages
# without the factor $\gamma^t$, so the exact statements of the tabular steps do not transfer
# literally: it is the practical counterpart of the estimator, not the estimator of step 6.)

# %%
small_theta = policies.init_policy(2, 2, hidden=(16,), seed=0, log_std=-0.5, dtype=torch.float64)
small_tasks = navigation.sample_tasks(4, np.random.default_rng(1))
n_small = len(small_tasks)
path = meta_rl.sample_path(navigation.make_vec_env(small_tasks, 10), policies.stack([small_theta] * n_small),
                           inner_lr=meta_rl.INNER_LR, horizon=navigation.HORIZON, seed=0)
keys = list(small_theta)


def flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


phi_small = {k: v.detach().requires_grad_() for k, v in meta_rl.adapted(policies.stack([small_theta] * n_small),
                                                                          path).items()}
outer = torch.autograd.grad(meta_rl.post_update_surrogate(phi_small, path.episodes[-1], path.advantages[-1]),
                            list(phi_small.values()))  # grad_{phi_i} L, per task [n, ...]
library_gradients = {}
for name in SURROGATES:
    library = torch.autograd.grad(meta_rl.meta_surrogate(small_theta, path, estimator=name), list(small_theta.values()))
    repeated = policies.stack([small_theta] * n_small)
    inner_grads = torch.autograd.grad(-meta_rl.inner_loss(repeated, (path.episodes[0], path.advantages[0]),
                                                          estimator=name),
                                      list(repeated.values()), create_graph=True)  # grad J^_i at theta, per task
    hvp = torch.autograd.grad(sum((a * b).sum() for a, b in zip(inner_grads, outer)), list(small_theta.values()))
    formula = flat(o.sum(0) for o in outer) + meta_rl.INNER_LR * flat(hvp)
    assert torch.allclose(flat(library), formula, rtol=1e-9, atol=1e-12)
    library_gradients[name] = flat(library)
first_order = flat(o.sum(0) for o in outer)
for name, g in library_gradients.items():
    print(f"{name:>6}: angle to DiCE's meta-gradient {angle(g, library_gradients['dice']):5.1f} degrees, "
          f"to the first-order one {angle(g, first_order):5.1f} degrees")
assert angle(library_gradients["loglik"], library_gradients["dice"]) > 1

# %% [markdown]
# ## Experiment: MAML-RL on 2D navigation
#
# The task family of the MAML paper's Fig. 4 (`metarl_lite.tasks.navigation`): a point starts
# at $(0, 0)$ and moves by its action, clipped to $\pm 0.1$ per coordinate; the reward is minus
# the distance to a goal $g \sim U[-0.5, 0.5]^2$; the episode ends at the goal or after
# $H = 100$ steps. The policy observes only its position, never the goal, so it has to find
# the goal from the rewards: before adaptation it can only head somewhere that is good on
# average; one VPG step on 20 episodes has to turn that into "go to *this* goal".
#
# Training with the `paper` configuration takes hours on a CPU. For 2D navigation it follows
# the MAML paper and its released code (App. A.2; cbfinn/maml_rl, `maml_trpo_point.py`):
# meta-batches of 20 tasks × 20 episodes, TRPO with $\delta = 0.01$, and the code's inner step
# size $\alpha = 0.5$ (the paper's text says 0.1); the next cell prints the run's settings. It
# differs in two places: the policy's mean is a 2-64-64-2 tanh MLP, as in pytorch-maml-rl (the
# MAML paper used two hidden layers of 100 ReLU units); and TRPO's Fisher-vector products are
# exact double backward passes on 5 of the 20 tasks (`fisher_tasks = 5`), where the MAML paper
# computed TRPO's Hessian-vector products by finite differences. The inner step uses the
# `loglik` estimator, as the original implementation did. The chapter loads a run folder made
# by the command-line tool:
#
# ```
# metarl-lite train --algo maml --task nav2d --config paper --out results/nav2d/maml
# metarl-lite evaluate results/nav2d/maml --adapt-steps 3 --json
# ```
#
# (`bash results/reproduce.sh nav2d` runs these for every method.) A run writes a checkpoint
# every 10 iterations, and the chapter uses whatever checkpoint is there; it says which. Set
# `RECOMPUTE = True` to train a run with the `quick` configuration (20 iterations of 10 tasks ×
# 10 episodes, a few minutes on two cores) into a temporary folder and use that instead.

# %%
RECOMPUTE = False

# %%
# NBVAL_IGNORE_OUTPUT
RUN = Path("../results/nav2d/maml")
if RECOMPUTE:
    RUN = Path(tempfile.mkdtemp()) / "maml_quick"
    subprocess.run([sys.executable, "-m", "metarl_lite.cli", "train", "--algo", "maml", "--task", "nav2d",
                    "--config", "quick", "--out", str(RUN), "--quiet"], check=True)

learner = load_learner(RUN)
config, maml_theta, iteration = learner.config, learner.theta, learner.iteration
print(f"{RUN}: checkpoint of iteration {iteration} of {config.iterations} "
      f"({config.meta_batch} tasks x {config.episodes_per_task} episodes per iteration, alpha = {config.inner_lr}, "
      f"estimator {config.estimator!r}, Fisher-vector products on {config.fisher_tasks or config.meta_batch} tasks)")
if config.config == "paper":  # the settings the text above describes
    described = (config.meta_batch, config.episodes_per_task, config.max_kl, config.inner_lr, config.fisher_tasks)
    assert described == (20, 20, 0.01, 0.5, 5) and tuple(config.hidden) == (64, 64), config

# %% [markdown]
# The training curve, from the run's `metrics.csv`: the mean return of the meta-batch before
# adaptation (the episodes of $\pi_\theta$) and after one step (the episodes of $\pi_{\phi_i}$).

# %%
rows = [row for row in read_metrics(RUN) if int(row["iteration"]) <= iteration]
fig, ax = plt.subplots(figsize=(7, 3.5))
for column, label in (("pre_return", "before adaptation"), ("post_return", "after one VPG step")):
    ax.plot([int(r["iteration"]) for r in rows], [float(r[column]) for r in rows], label=label)
ax.set_xlabel("meta-iteration")
ax.set_ylabel("mean return of the meta-batch")
ax.set_title(f"MAML-RL on 2D navigation (checkpoint of iteration {iteration})")
ax.legend()
plt.show()

# %% [markdown]
# Where the policy walks, toward four held-out goals (stars), with 5 of the 20 episodes of
# each goal drawn: before adaptation, and after 1, 2 and 3 VPG steps with the training step
# size (`metarl_lite.widgets.adapted_trajectories` runs `meta_rl.sample_path`; each step
# samples 20 fresh episodes with the current $\phi$ and adapts on them). The legend gives each
# goal's mean return over its 20 episodes. Before adaptation the walks look alike for every
# goal: the policy has not seen a reward of this task yet. After one step they head toward
# their own goals. (The zigzag is the policy's exploration noise, a Gaussian with a learned
# standard deviation, on actions clipped to $\pm 0.1$.) Every step here has the training
# $\alpha$; the evaluation below, like the paper's, takes the later steps with a smaller one,
# so compare the returns after 2 and 3 steps printed here and there.

# %%
goals = [task["goal"] for task in held_out_tasks(config, 4, TEST_SEED)]
drawn = adapted_trajectories(maml_theta, goals, inner_lr=config.inner_lr, steps=3, seed=0,
                             episodes_per_goal=config.episodes_per_task)
fig, axes = plt.subplots(1, 4, figsize=(18, 5.5), sharey=True)
for step, ax in enumerate(axes):
    title = "before adaptation" if step == 0 else f"after {step} step{'s' * (step > 1)}"
    plot_trajectories(ax, drawn, step, title=title)
plt.tight_layout()
plt.show()
print("mean return over the 4 goals after 0, 1, 2, 3 steps:", drawn["returns"].mean(1).round(1))

# %% [markdown]
# The evaluation of the course: held-out tasks (40; 10 when computed live), the mean return
# after 0 to 3 VPG steps with the 95% half-width over tasks. `metarl-lite evaluate` stores it
# in the run folder as `evaluation.json` once training has finished, together with its
# protocol: the episodes sampled per step (`episodes_per_task`), the step size $\alpha$ of the
# first step (`adapt_lr`) and, if the later steps use another one, theirs (`later_adapt_lr`).
# While the run is still training (or after `RECOMPUTE`), the cell below computes the same
# evaluation live on 10 tasks (`metarl_lite.rl.training.evaluate`), and reads the protocol
# from its result in the same way.
#
# Beside it, the MAML paper's values (App. C.2, Table 4, plotted in its Fig. 4). They come
# from another implementation (rllab's), with its own training budget and its own protocol.
# The paper's text gives 40 episodes per step (Sec. 5.3), $\alpha = 0.1$ for the first step and
# $\alpha / 2 = 0.05$ for the later ones, and the model with the best average return during
# training (App. A.2); the released test script for 2D navigation (`test_maml_point.py`) takes
# 40 episodes per step with $\alpha = 0.5$ and then $0.25$, for a policy meta-trained with
# $\alpha = 0.5$, from the last snapshot of training. Ours evaluates the last checkpoint. The
# cell prints the three protocols and where ours differs; compare the shape of the curve more
# than the digits.

# %%
# NBVAL_IGNORE_OUTPUT
stored = RUN / "evaluation.json"
if stored.exists() and iteration == config.iterations:
    result, source = json.loads(stored.read_text()), f"{stored}"
else:
    result, source = evaluate(learner, adapt_steps=3, n_tasks=10), f"computed live (checkpoint {iteration})"
after, ci95 = np.array(result["after_steps"]), np.array(result["ci95"])
paper = PAPER_RL["nav2d"]["maml"]
protocols = {  # the evaluation of MAML on 2D navigation: the paper's text, its released test script, and ours
    "MAML paper (text)": {"episodes per step": 40, "alpha, first step": 0.1, "alpha, later steps": 0.05,
                          "checkpoint": "best during training"},
    "test_maml_point.py": {"episodes per step": 40, "alpha, first step": 0.5, "alpha, later steps": 0.25,
                           "checkpoint": "last"},
    "ours": {"episodes per step": result["episodes_per_task"], "alpha, first step": result["adapt_lr"],
             "alpha, later steps": result.get("later_adapt_lr", result["adapt_lr"]),
             "checkpoint": "last" if iteration == config.iterations else f"iteration {iteration}"},
}
print(f"{'':<20}" + "".join(f"{name:<22}" for name in protocols))
for key in protocols["ours"]:
    print(f"{key:<20}" + "".join(f"{protocol[key]!s:<22}" for protocol in protocols.values()))
for name in list(protocols)[:2]:
    differences = [key for key, value in protocols[name].items() if protocols["ours"][key] != value]
    print(f"ours differs from {name} in: {'; '.join(differences) or 'nothing'}")

fig, ax = plt.subplots(figsize=(6, 3.8))
ax.errorbar(range(len(after)), after, yerr=ci95, marker="o", capsize=4, label=f"ours, {result['tasks']} tasks")
ax.plot(range(len(paper)), paper, marker="s", linestyle="--", label="MAML paper (App. C.2, Table 4)")
ax.set_xticks(range(len(after)))
ax.set_xlabel("VPG steps on the held-out task")
ax.set_ylabel("mean return")
ax.set_title("Return after adaptation, 2D navigation")
ax.legend()
plt.show()
print(f"{source}: return after 0..3 steps = {after.round(1)} ± {ci95.round(1)}")

# %% [markdown]
# The claim of the chapter, checked on whatever run was loaded: one VPG step from the
# meta-learned initialization raises the return on held-out tasks by more than the 95%
# half-widths of both means.

# %%
assert after[1] - ci95[1] > after[0] + ci95[0], (after, ci95)
assert max(after[1:]) > after[0] + 5

# %% [markdown]
# ### Try it: step size and number of steps
#
# Move the sliders: the inner step size $\alpha$ (log scale) and the number of VPG steps $k$.
# The policy was meta-trained for one step with the $\alpha$ printed when the run was loaded.
# What happens with a tenth of it? With twice it? Do more steps keep helping with the full
# $\alpha$, and with half of it, the later-step size of the evaluation? (Each redraw samples
# $20 (k + 1)$ episodes per goal, a second or two.)

# %%
# NBVAL_IGNORE_OUTPUT
navigation_widget(maml_theta, goals, inner_lr=config.inner_lr, steps=1, seed=0,
                  episodes_per_goal=config.episodes_per_task)

# %% [markdown]
# ## What to remember
#
# * MAML-RL maximizes the expected return after a policy-gradient step,
#   $J(\theta + \alpha \nabla J(\theta))$; its gradient is
#   $(I + \alpha \nabla^2 J(\theta))^\top \nabla J(\phi)$, so the inner step's *Hessian* matters.
# * The Hessian of an expected return has four terms, $H_1 + H_2 + H_{12} + H_{12}^\top$; all but
#   $H_2$ come from the fact that the policy chooses its own data.
# * Differentiating the textbook surrogate $\sum_t \log\pi \perp R_t$ twice gives $H_2$ only: the
#   "naive" meta-gradient is **biased**, by $-\alpha (H_1 + H_{12} + H_{12}^\top) \nabla J(\phi)$,
#   and more episodes do not fix it. LVC gives $H_1 + H_2$ (biased, low variance), DiCE the exact
#   Hessian (high variance); all three have the same value and gradient. DiCE's meta-gradient is
#   unbiased with the inner expectation exact; with $N$ inner episodes every estimator's averaged
#   meta-gradient is off, DiCE's by $O(1/N)$, and the $N$-episode objective has a score term
#   that no surrogate's Hessian supplies (step 9).
# * The practical algorithm: a VPG inner step on normalized GAE advantages with a linear baseline,
#   $\alpha = 0.1$ in the paper ($0.5$ in its released 2D-navigation code); a TRPO outer step on
#   the post-update policies; the estimator decides only the
#   second-order term (`estimator=` in `meta_rl`).
# * On 2D navigation one step from the meta-learned $\theta$ turns a policy that walks the same
#   way for every goal into one that walks to *its* goal.
#
# ## Exercises
#
# 1. **Baselines.** Repeat step 6 with a baseline table $b(t, s)$ of shape $[H, S]$ passed to the
#    surrogates: `baseline=b[torch.arange(H), one.states]` inside the `lambda lp, one:` of
#    `expected_surrogate`. Show that LVC's and DiCE's expected Hessians do not
#    move and that `loglik`'s does, and explain it with
#    $\mathbb{E}[\nabla^2 \ell_t + \nabla \ell_t \nabla \ell_t^\top \mid s_t] = 0$.
# 2. **One table per step.** Use logits of shape $[H, S, A]$ (`theta` with a leading step
#    axis). Which blocks of $H_1$, $H_2$ and $H_{12}$ are zero now, and which blocks of the
#    exact Hessian does `loglik` still get right?
# 3. **The sign of the bias.** For the MDP above, compute $\nabla J(\theta)^\top (g_{\text{est}} - g_{\text{exact}})$
#    for `loglik` and `lvc` over a sweep of $\alpha$. Does the bias make the meta-gradient too
#    aggressive or too timid along the ordinary gradient?
# 4. **Another estimator in practice.** Train `make_config("maml", "nav2d", "quick",
#    estimator="dice")` and `estimator="lvc"` with `metarl_lite.rl.training.train`, three seeds
#    each, and compare their post-update returns with `loglik`'s. Is the difference larger
#    than the spread across seeds?
# 5. **Beyond one step.** With the widget, find the $\alpha$ at which the adapted walks start to
#    overshoot their goals. Why does normalizing the advantages make that $\alpha$ nearly the
#    same for every goal?
#
# ## References
#
# * C. Finn, P. Abbeel, S. Levine. *Model-Agnostic Meta-Learning for Fast Adaptation of Deep
#   Networks.* ICML 2017. arXiv:1703.03400. (MAML-RL, Algorithm 3, 2D navigation, Fig. 4.)
# * J. Foerster, G. Farquhar, M. Al-Shedivat, T. Rocktäschel, E. Xing, S. Whiteson. *DiCE: The
#   Infinitely Differentiable Monte Carlo Estimator.* ICML 2018. (The magic box; the missing
#   term in MAML-RL's meta-gradient.)
# * J. Rothfuss, D. Lee, I. Clavera, T. Asfour, P. Abbeel. *ProMP: Proximal Meta-Policy
#   Search.* ICLR 2019. (The decomposition $H_1 + H_2 + H_{12} + H_{12}^\top$, LVC.)
# * B. Stadie, G. Yang, R. Houthooft, X. Chen, Y. Duan, Y. Wu, P. Abbeel, I. Sutskever. *Some
#   Considerations on Learning to Explore via Meta-Reinforcement Learning.* 2018.
#   arXiv:1803.01118. (The sampling distribution's dependence on $\theta$ in the meta-gradient.)
# * J. Mao, J. Foerster, T. Rocktäschel, M. Al-Shedivat, G. Farquhar, S. Whiteson. *A Baseline
#   for Any Order Gradient Estimation in Stochastic Computation Graphs.* ICML 2019; G. Farquhar,
#   S. Whiteson, J. Foerster. *Loaded DiCE.* NeurIPS 2019. (Baselines for DiCE.)
# * J. Schulman, S. Levine, P. Moritz, M. Jordan, P. Abbeel. *Trust Region Policy
#   Optimization.* ICML 2015; J. Schulman, P. Moritz, S. Levine, M. Jordan, P. Abbeel.
#   *High-Dimensional Continuous Control Using Generalized Advantage Estimation.* ICLR 2016.
# * Y. Duan, X. Chen, R. Houthooft, J. Schulman, P. Abbeel. *Benchmarking Deep Reinforcement
#   Learning for Continuous Control.* ICML 2016. (rllab, the linear feature baseline.)

# %%
# NBVAL_IGNORE_OUTPUT
print(f"chapter ran in {time.perf_counter() - chapter_start:.0f} s")
