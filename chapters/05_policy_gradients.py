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
# # 05 · Policy gradients, derived step by step
#
# **Goal.** By the end of this chapter you can derive the policy-gradient estimator that
# MAML-RL uses in its inner loop, from the definition of the expected return to the line of
# code: the log-derivative trick, REINFORCE, rewards-to-go, baselines, generalized advantage
# estimation (GAE) and the linear feature baseline. Every step is checked **exactly**: on a
# tiny Markov decision process we list all trajectories, so the expectation of an estimator
# is a finite sum that we compare with the true gradient. Then you train a policy on 2D
# navigation with the library and watch its return climb.
#
# ## Background
#
# Part I adapted networks by gradient descent on a loss we could differentiate. In
# reinforcement learning the quantity to improve is the **expected return** of a policy, and
# the data, episodes, are produced by the policy itself, through an environment that we can
# sample but not differentiate. A **policy-gradient method** estimates the gradient of the
# expected return from sampled episodes. MAML-RL (chapter 06) takes one such estimate as its
# inner step, $\phi = \theta + \alpha\, \widehat{\nabla J}(\theta)$, and then differentiates
# through it; this chapter builds the estimate.
#
# The setting, in symbols the whole chapter uses:
#
# * a finite-horizon **Markov decision process** (MDP) with states $s \in \{1, \dots, S\}$,
#   actions $a \in \{1, \dots, A\}$, horizon $H$ (every episode has steps $t = 0, \dots, H-1$),
#   initial distribution $\rho(s_0)$, transition probabilities $P(s_{t+1} \mid s_t, a_t)$,
#   reward function $r(s, a)$, and discount $\gamma \in [0, 1]$;
# * a **policy** $\pi_\theta(a \mid s)$ with parameters $\theta$: on the tabular MDP a softmax
#   of a table of logits, $\pi_\theta(a \mid s) = \mathrm{softmax}(\theta_{s, \cdot})_a$ with
#   $\theta \in \mathbb{R}^{S \times A}$; on 2D navigation a Gaussian whose mean is an MLP
#   (chapter 06 uses the same);
# * a **trajectory** $\tau = (s_0, a_0, s_1, a_1, \dots, s_{H-1}, a_{H-1})$, its probability
#   $p_\theta(\tau)$ when $\pi_\theta$ acts (step 1), its rewards $r_t = r(s_t, a_t)$ and its
#   **discounted return** $R(\tau) = \sum_{t=0}^{H-1} \gamma^t r_t$;
# * the **log-probabilities** $\ell_t = \log \pi_\theta(a_t \mid s_t)$, and their gradients
#   $\nabla \ell_t = \nabla_\theta \log \pi_\theta(a_t \mid s_t)$, the **score**;
# * the **return-to-go** $G_t = \sum_{t' = t}^{H-1} \gamma^{t' - t} r_{t'}$, the discounted
#   rewards from step $t$ on, counted from $t$;
# * the **value** $V_t(s) = \mathbb{E}[G_t \mid s_t = s]$ and the **action value**
#   $Q_t(s, a) = \mathbb{E}[G_t \mid s_t = s, a_t = a]$ of the policy (finite horizon, so
#   both depend on $t$);
# * $\perp x$, **stop-gradient**: the value of $x$ with every derivative zero (`x.detach()`).
#
# **Why a tabular MDP?** With $S = 3$ states, $A = 2$ actions and $H = 3$ steps there are
# $(SA)^H = 216$ trajectories. `metarl_lite.tasks.tabular.TabularMDP` lists them with their
# probabilities, computes $J(\theta)$ exactly by the backward (Bellman) recursion, and
# `torch.func` differentiates that recursion: the true gradient $\nabla J(\theta)$, to
# rounding error. So the expectation of any estimator is a finite sum, and "unbiased" becomes
# an equality we can assert to $10^{-12}$. Only the variance step samples, to show the numbers
# you would measure.
#
# ## Key equations
#
# The objective, and the policy-gradient theorem with a **baseline** $b(t, s_t)$ (any function
# of the state and the step, not of the action); MAML-RL implements it without the factor
# $\gamma^t$ and with normalized advantages (step 10):
#
# $$J(\theta) = \mathbb{E}_{\tau \sim p_\theta}\Big[\sum_{t=0}^{H-1} \gamma^t r_t\Big], \qquad
#   \nabla J(\theta) = \mathbb{E}_{\tau \sim p_\theta}\Big[\sum_{t=0}^{H-1} \nabla \log \pi_\theta(a_t \mid s_t)\,
#   \gamma^t \big(G_t - b(t, s_t)\big)\Big].$$
#
# **Generalized advantage estimation** replaces $G_t - b(t, s_t)$ by a weighted sum of
# one-step **temporal-difference (TD) errors** of a value estimate $\hat V$ (with
# $\hat V_H \equiv 0$), weighted by powers of $\gamma\lambda$ with a parameter $\lambda \in [0, 1]$:
#
# $$\delta_t = r_t + \gamma \hat V_{t+1}(s_{t+1}) - \hat V_t(s_t), \qquad
#   \hat A^{(\lambda)}_t = \sum_{l=0}^{H-1-t} (\gamma\lambda)^l\, \delta_{t+l},$$
#
# so that $\lambda = 1$ gives $\hat A^{(1)}_t = G_t - \hat V_t(s_t)$ (unbiased, more variance)
# and $\lambda = 0$ the one-step $\delta_t$ (less variance, biased unless $\hat V = V$). Given $N$ sampled episodes, the **surrogate objective**
#
# $$L(\theta) = \frac1N \sum_{i=1}^N \sum_{t=0}^{H-1} \log \pi_\theta(a^i_t \mid s^i_t)\;
#   \perp\!\big[\gamma^t \hat A^i_t\big]$$
#
# is a scalar whose gradient is the estimator: one backward pass computes it.
# The derivation proves each of these in ten numbered steps and checks each one.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatSlider, interactive
from torch.autograd.functional import hessian
from torch.func import jacrev
from tqdm.auto import tqdm

from metarl_lite import seed_everything
from metarl_lite.rl import policies
from metarl_lite.rl.baselines import LinearFeatureBaseline
from metarl_lite.rl.returns import discounted_returns, gae, masked
from metarl_lite.rl.sampler import sample_episodes
from metarl_lite.rl.surrogates import dice, loglik, vpg_inner_loss
from metarl_lite.tasks import navigation
from metarl_lite.tasks.tabular import TabularMDP, random_mdp

seed_everything(0)  # seeds Python, NumPy and torch; one thread

# %% [markdown]
# The MDP: `random_mdp` draws $\rho$ and every $P(\cdot \mid s, a)$ from a flat Dirichlet
# distribution and $r(s, a) \sim \mathcal{N}(0, 1)$. We shift every reward by $-1$, so that
# rewards are mostly costs, as in 2D navigation (where $r_t$ is minus the distance to the
# goal); this matters for the variance, step 6. The policy is a random table of logits
# $\theta \in \mathbb{R}^{S \times A}$, shared by all steps like the neural policies of the
# course, and $\gamma = 0.9$. Everything is float64, so exact identities hold to about
# $10^{-15}$. `tau` holds all $M = (SA)^H$ trajectories, as `[M, H]` tensors of states,
# actions and rewards, and their probabilities `tau.probs` under $\pi_\theta$.

# %%
# NBVAL_CHECK_OUTPUT
S, A, H, gamma = 3, 2, 3, 0.9
base = random_mdp(S, A, H, seed=0)
mdp = TabularMDP(base.initial, base.transitions, base.rewards - 1.0, H)
theta = torch.as_tensor(np.random.default_rng(3).standard_normal((S, A)))
d = theta.numel()  # number of parameters
steps = torch.arange(H)
discount = gamma**steps.double()  # gamma^t, [H]

tau = mdp.trajectories(theta)
M = len(tau.probs)
J = mdp.value(theta, gamma=gamma)  # by the backward recursion
grad_J = jacrev(lambda th: mdp.value(th, gamma=gamma))(theta).reshape(d)  # the true gradient
print(f"{M} trajectories; J(theta) = {J:.4f}; |grad J| = {grad_J.norm():.4f}")

# %% [markdown]
# Two helpers carry the whole derivation. An estimator of the form
# $\hat g(\tau) = \sum_t \nabla \ell_t\, w_t(\tau)$, with weights $w_t$ that do not depend on
# $\theta$, is computed for every trajectory at once as the Jacobian of the vector
# $\big(\sum_t \ell_t(\tau_i)\, w_t(\tau_i)\big)_i$; and its mean and variance under
# $p_\theta$ are finite sums over the 216 trajectories. The **variance** of a vector estimator
# is $\mathrm{Var}[\hat g] = \mathbb{E}\,\|\hat g - \mathbb{E}\hat g\|^2$, the sum of the
# variances of its $d$ coordinates; an average over $N$ episodes has $1/N$ of it.


# %%
def per_trajectory_gradients(states, actions, weights):
    """g(tau_i) = sum_t grad log pi_theta(a_t | s_t) w_t(tau_i) for each row i: [n, d] (weights [n, H], constants)."""
    def weighted(th):
        return (mdp.log_probs(th, states, actions) * weights).sum(1)  # [n]

    return jacrev(weighted)(theta).reshape(len(states), d)


def exact_moments(g):
    """E[g] [d] and Var[g] = E||g - E g||^2 under p_theta, as sums over all trajectories (g: [M, d])."""
    mean = tau.probs @ g
    return mean, tau.probs @ (g - mean).square().sum(1)


def relative_bias(g):
    """||E[g] - grad J|| / ||grad J||: 0 for an unbiased estimator."""
    return ((exact_moments(g)[0] - grad_J).norm() / grad_J.norm()).item()


# %% [markdown]
# ## Derivation
#
# ### Step 1. The probability of a trajectory, and $J$ as a sum
#
# A trajectory happens when the start state, every action and every transition happen:
#
# $$p_\theta(\tau) = \rho(s_0) \prod_{t=0}^{H-1} \pi_\theta(a_t \mid s_t) \prod_{t=0}^{H-2} P(s_{t+1} \mid s_t, a_t),
#   \qquad J(\theta) = \sum_\tau p_\theta(\tau)\, R(\tau).$$
#
# `log_p` below writes the product out as a function of $\theta$ (step 2 differentiates it);
# `mdp.trajectories` computes `tau.probs` by the same formula. The checks compare the listed
# probabilities with computations that do not list trajectories: they sum to 1; the
# probability of being in state $s$ at step $t$, summed over the listed trajectories, equals
# the **forward recursion** $d_0 = \rho$, $d_{t+1}(s') = \sum_{s, a} d_t(s)\, \pi_\theta(a \mid s)\, P(s' \mid s, a)$;
# and the sum over trajectories equals $J(\theta)$ from the backward recursion
# $V_t(s) = \sum_a \pi_\theta(a \mid s) \big(r(s, a) + \gamma \sum_{s'} P(s' \mid s, a) V_{t+1}(s')\big)$.

# %%
def log_p(th):
    """log p_theta(tau) of every enumerated trajectory, [M], from the definition."""
    moves = mdp.transitions[tau.states[:, :-1], tau.actions[:, :-1], tau.states[:, 1:]]  # P(s_{t+1} | s_t, a_t)
    return mdp.initial[tau.states[:, 0]].log() + mdp.log_probs(th, tau.states, tau.actions).sum(1) + moves.log().sum(1)


returns = (tau.rewards * discount).sum(1)  # R(tau), [M]
listed = torch.stack([torch.zeros(S, dtype=torch.float64).index_add(0, tau.states[:, t], tau.probs)
                      for t in range(H)])  # P(s_t = s) from the listed trajectories, [H, S]
pi = mdp.policy(theta).exp()  # pi_theta(a | s) at each step, [H, S, A]
forward = [mdp.initial]
for t in range(H - 1):
    forward.append(torch.einsum("s,sa,sap->p", forward[-1], pi[t], mdp.transitions))
assert torch.isclose(tau.probs.sum(), torch.tensor(1.0, dtype=torch.float64), rtol=1e-14, atol=0)
assert torch.allclose(listed, torch.stack(forward), rtol=0, atol=1e-15)
assert torch.isclose(tau.probs @ returns, J, rtol=1e-13, atol=0)
print(f"max |P(s_t = s) listed - forward recursion| = {(listed - torch.stack(forward)).abs().max():.1e}")
print(f"sum_tau p(tau) R(tau) = {tau.probs @ returns:.12f}\nJ by the backward recursion = {J:.12f}")

# %% [markdown]
# ### Step 2. The log-derivative trick
#
# We want $\nabla J = \sum_\tau \nabla p_\theta(\tau)\, R(\tau)$ (the returns do not depend on
# $\theta$), but a sum over all trajectories is exactly what we cannot compute in a real
# environment; an *expectation* we could estimate by sampling. The chain rule for the
# logarithm, $\nabla \log p = \nabla p / p$, turns one into the other:
#
# $$\nabla p_\theta(\tau) = p_\theta(\tau)\, \nabla \log p_\theta(\tau).$$
#
# And the logarithm turns the product of step 1 into a sum, in which $\rho$ and $P$ do not
# depend on $\theta$: the **dynamics drop out**,
#
# $$\nabla \log p_\theta(\tau) = \underbrace{\nabla \log \rho(s_0)}_{0}
#   + \sum_{t} \nabla \log \pi_\theta(a_t \mid s_t) + \sum_t \underbrace{\nabla \log P(s_{t+1} \mid s_t, a_t)}_{0}
#   = \sum_{t=0}^{H-1} \nabla \ell_t .$$
#
# This is what makes policy gradients model-free: the score needs only the policy. The checks,
# for all 216 trajectories and all $d = 6$ parameters, against **central finite differences**
# $\nabla_k p_\theta(\tau) \approx \big(p_{\theta + h e_k}(\tau) - p_{\theta - h e_k}(\tau)\big) / 2h$, which
# differentiate nothing: $p_\theta(\tau) \sum_t \nabla \ell_t$, computed from the policy's
# scores alone, equals $\nabla p_\theta(\tau)$; and $\sum_\tau \nabla p_\theta(\tau)\, R(\tau)$
# equals $\nabla J$ from the backward recursion.

# %%
h = 1e-5
directions = h * torch.eye(d, dtype=torch.float64).reshape(d, S, A)  # h e_k as [S, A] logits
finite_differences = torch.stack([(log_p(theta + e).exp() - log_p(theta - e).exp()) / (2 * h) for e in directions], 1)
score = per_trajectory_gradients(tau.states, tau.actions, torch.ones(M, H, dtype=torch.float64))  # sum_t grad l_t
log_derivative = tau.probs[:, None] * score  # p grad log p, [M, d]
print(f"max |finite differences of p - p sum_t grad l_t| = {(finite_differences - log_derivative).abs().max():.1e} "
      f"(largest entry {log_derivative.abs().max():.2f})")
print(f"|sum_tau grad p(tau) R(tau) - grad J| = {(finite_differences.T @ returns - grad_J).norm():.1e}")
assert torch.allclose(finite_differences, log_derivative, rtol=0, atol=1e-10)
assert torch.allclose(finite_differences.T @ returns, grad_J, rtol=0, atol=1e-10)

# %% [markdown]
# ### Step 3. REINFORCE
#
# Put step 2 into $\nabla J$:
#
# $$\nabla J(\theta) = \sum_\tau p_\theta(\tau)\, \nabla \log p_\theta(\tau)\, R(\tau)
#   = \mathbb{E}_{\tau \sim p_\theta}\Big[R(\tau) \sum_{t=0}^{H-1} \nabla \ell_t\Big].$$
#
# The bracket can be computed from one sampled episode, so the average over $N$ episodes,
# $\hat g = \frac1N \sum_i R(\tau_i) \sum_t \nabla \ell_t(\tau_i)$, is an **unbiased** estimate of
# $\nabla J$: this is REINFORCE (Williams, 1992). A special case comes back in step 4:
# with $R \equiv 1$ the same computation gives $\nabla \sum_\tau p_\theta(\tau) = \nabla 1 = 0$, so
# the **score has mean zero**, $\mathbb{E}[\nabla \log p_\theta(\tau)] = 0$.
#
# The check: the exact expectation of REINFORCE, a sum over all trajectories, is the autodiff
# gradient of the exact $J$; and the expected score is zero.

# %%
reinforce = per_trajectory_gradients(tau.states, tau.actions, returns[:, None].expand(M, H))
mean_reinforce = exact_moments(reinforce)[0]
assert torch.allclose(mean_reinforce, grad_J, rtol=0, atol=1e-14)
assert exact_moments(score)[0].abs().max() < 1e-15 and score.abs().max() > 0.5
print("E[REINFORCE] =", np.round(mean_reinforce.numpy(), 6))
print("grad J       =", np.round(grad_J.numpy(), 6))

# %% [markdown]
# ### Step 4. Causality: rewards-to-go
#
# REINFORCE multiplies the score of every action by the *whole* return, including the rewards
# that came *before* the action. Those cannot have been caused by it, and indeed their terms
# vanish in expectation: for $t' < t$,
#
# $$\mathbb{E}\big[\nabla \ell_t\, \gamma^{t'} r_{t'}\big] = 0 .$$
#
# Proof: fix the history $h_t = (s_0, a_0, \dots, s_t)$ before action $a_t$. Given $h_t$, the
# reward $r_{t'}$ with $t' < t$ is a constant, and the score of $a_t$ has mean zero,
#
# $$\mathbb{E}\big[\nabla \ell_t \mid h_t\big] = \sum_a \pi_\theta(a \mid s_t)\, \nabla \log \pi_\theta(a \mid s_t)
#   = \sum_a \nabla \pi_\theta(a \mid s_t) = \nabla \sum_a \pi_\theta(a \mid s_t) = \nabla 1 = 0,$$
#
# so the expectation of the product, first over $a_t, s_{t+1}, \dots$ given $h_t$ and then over
# $h_t$, is zero. Dropping these terms leaves each score weighted by the discounted rewards
# from its own step on, $\sum_{t' \ge t} \gamma^{t'} r_{t'} = \gamma^t G_t$:
#
# $$\nabla J(\theta) = \mathbb{E}\Big[\sum_{t=0}^{H-1} \nabla \ell_t\, \gamma^t G_t\Big],
#   \qquad G_t = \sum_{t'=t}^{H-1} \gamma^{t'-t} r_{t'} = r_t + \gamma G_{t+1}.$$
#
# The factor $\gamma^t$ stays: $J$ discounts from the episode start. The check: the table of
# $\|\mathbb{E}[\nabla \ell_t \gamma^{t'} r_{t'}]\|$ is zero exactly below the diagonal
# ($t' < t$) and not elsewhere; `metarl_lite.rl.returns.discounted_returns` (a backward
# recursion) equals $G = r\, \Gamma^\top$ with the matrix $\Gamma_{t t'} = \gamma^{t'-t}$ for
# $t' \ge t$; and the reward-to-go estimator is still unbiased.

# %%
# NBVAL_CHECK_OUTPUT
scores_per_step = jacrev(lambda th: mdp.log_probs(th, tau.states, tau.actions))(theta).reshape(M, H, d)  # grad l_t
terms = torch.einsum("n,ntk,nu->tuk", tau.probs, scores_per_step, tau.rewards * discount)  # E[grad l_t gamma^t' r_t']
table = terms.norm(dim=-1)  # [t, t']
print("|E[grad l_t gamma^t' r_t']|, row t, column t':\n", np.round(table.numpy(), 4))
past = torch.tril(torch.ones(H, H, dtype=torch.bool), diagonal=-1)  # rewards before the action: t' < t
assert table[past].max() < 1e-15 and table[~past].min() > 1e-3

Gamma = torch.triu(gamma ** (steps[None, :] - steps[:, None]).double())  # Gamma[t, t'] = gamma^(t' - t), t' >= t
G = discounted_returns(tau.rewards, tau.masks, gamma=gamma)  # [M, H]
assert torch.allclose(G, tau.rewards @ Gamma.T, rtol=1e-14, atol=1e-15)
reward_to_go = per_trajectory_gradients(tau.states, tau.actions, discount * G)
assert torch.allclose(exact_moments(reward_to_go)[0], grad_J, rtol=0, atol=1e-14)

# %% [markdown]
# ### Step 5. Baselines keep the gradient unbiased
#
# The argument of step 4 works for *anything* that is fixed once $h_t$ is: for any function
# $b(t, s_t)$ of the step and the state (or of the history $h_t$), but **not** of the action
# $a_t$,
#
# $$\mathbb{E}\big[\nabla \ell_t\, b(t, s_t)\big] = \mathbb{E}\big[b(t, s_t)\, \mathbb{E}[\nabla \ell_t \mid h_t]\big] = 0,
#   \qquad\text{so}\qquad
#   \nabla J(\theta) = \mathbb{E}\Big[\sum_{t} \nabla \ell_t\, \gamma^t \big(G_t - b(t, s_t)\big)\Big].$$
#
# A **baseline** changes each sample but not the mean. The check: a random baseline table
# $b(t, s) \sim \mathcal{N}(0, 5^2)$ leaves the expectation exactly at $\nabla J$, while a
# "baseline" that looks at the action, $b(t, s_t, a_t)$, biases it: the proof needs
# $\mathbb{E}[\nabla \ell_t \mid h_t] = 0$ with $b$ held fixed, which fails once $b$ varies with $a_t$.

# %%
baseline_rng = np.random.default_rng(2)
state_table = torch.as_tensor(5 * baseline_rng.standard_normal((H, S)))  # b(t, s)
action_table = torch.as_tensor(5 * baseline_rng.standard_normal((H, S, A)))  # b(t, s, a): not a baseline
with_state_baseline = per_trajectory_gradients(tau.states, tau.actions, discount * (G - state_table[steps, tau.states]))
with_action_baseline = per_trajectory_gradients(
    tau.states, tau.actions, discount * (G - action_table[steps, tau.states, tau.actions]))
print(f"relative bias with b(t, s_t):      {relative_bias(with_state_baseline):.1e}")
print(f"relative bias with b(t, s_t, a_t): {relative_bias(with_action_baseline):.2f}")
assert relative_bias(with_state_baseline) < 1e-13
assert relative_bias(with_action_baseline) > 0.1

# %% [markdown]
# ### Step 6. Why baselines help: variance
#
# Steps 3 to 5 give three unbiased estimators with the same mean and different spread. The
# score has mean zero; multiplied by a large weight of one sign (here every return is mostly
# a sum of costs), each sample is a big vector that cancels with the others only on average.
# Subtracting a baseline close to $\mathbb{E}[G_t \mid s_t]$ centres the weights: a sample now
# says "this action did better (or worse) than usual from this state". The natural choice is
# the value function itself, $b(t, s_t) = V_t(s_t)$, so that the weight $G_t - V_t(s_t)$
# estimates the **advantage** $Q_t(s_t, a_t) - V_t(s_t)$. (It is close to, but not exactly,
# the variance-minimizing baseline, which also weighs by $\|\nabla \ell_t\|^2$; Greensmith et
# al., 2004.) A real agent does not know $V$; here `state_values` computes it exactly, to see
# what the ideal baseline achieves.
#
# Two checks. First, exactly: the variances of REINFORCE, of rewards-to-go and of rewards-to-go
# with $V$ as baseline. Second, by Monte Carlo, as you would measure them: we simulate 2000
# episodes (start in $s_0 \sim \rho$, draw $a_t \sim \pi_\theta(\cdot \mid s_t)$, then
# $s_{t+1} \sim P(\cdot \mid s_t, a_t)$), compute each estimator on every episode, and take
# the sample mean and variance. The sample means agree with $\nabla J$ to within 3
# standard errors, the sample variances with the exact ones to within 10%, and the baseline
# cuts the variance several times over.

# %%
def sample_trajectories(mdp, theta, n, rng):
    """n trajectories tau ~ p_theta by simulation: states and actions, two [n, H] long tensors."""
    pi, transitions = mdp.policy(theta).exp().detach().numpy(), mdp.transitions.numpy()  # [H, S, A], [S, A, S]

    def draw(probs):  # one index per row of probs [n, K], by inverting the cumulative distribution
        return np.minimum((rng.random((len(probs), 1)) > probs.cumsum(1)).sum(1), probs.shape[1] - 1)

    s = draw(np.tile(mdp.initial.numpy(), (n, 1)))
    states, actions = [], []
    for t in range(mdp.horizon):
        a = draw(pi[t, s])
        states.append(s)
        actions.append(a)
        s = draw(transitions[s, a])
    return torch.as_tensor(np.stack(states, 1)), torch.as_tensor(np.stack(actions, 1))


V = mdp.state_values(theta, gamma=gamma)  # V_t(s), [H, S]
mc_states, mc_actions = sample_trajectories(mdp, theta, 2000, np.random.default_rng(3))
mc_rewards = mdp.rewards[mc_states, mc_actions]  # [2000, H]
mc_masks = torch.ones_like(mc_rewards)
mc_G = discounted_returns(mc_rewards, mc_masks, gamma=gamma)
weights = {  # estimator name -> (its weights w_t on all trajectories, on the sampled ones)
    "REINFORCE: R(tau)": (returns[:, None].expand(M, H), mc_G[:, :1].expand(-1, H)),
    "rewards-to-go: gamma^t G_t": (discount * G, discount * mc_G),
    "with baseline: gamma^t (G_t - V_t(s_t))": (discount * (G - V[steps, tau.states]),
                                                discount * (mc_G - V[steps, mc_states])),
}
variances = {}
for name, (exact_weights, mc_weights) in weights.items():
    mean, var = exact_moments(per_trajectory_gradients(tau.states, tau.actions, exact_weights))
    samples = per_trajectory_gradients(mc_states, mc_actions, mc_weights)  # [2000, d]
    mc_mean, mc_var = samples.mean(0), samples.var(0).sum()
    standard_error = (mc_var / len(samples)).sqrt()
    variances[name] = (var.item(), mc_var.item())
    print(f"{name:<42} exact Var = {var:6.3f}, Monte Carlo Var = {mc_var:6.3f}; "
          f"|MC mean - grad J| = {(mc_mean - grad_J).norm():.3f} (standard error {standard_error:.3f})")
    assert torch.allclose(mean, grad_J, rtol=0, atol=1e-14)
    assert (mc_mean - grad_J).norm() < 3 * standard_error
    assert abs(mc_var / var - 1) < 0.1
exact_var, mc_var = zip(*variances.values())
assert exact_var[2] < exact_var[1] < exact_var[0] and mc_var[2] < mc_var[1] < mc_var[0]
assert mc_var[1] > 2 * mc_var[2], "the baseline should cut the measured variance at least in half"

fig, ax = plt.subplots(figsize=(8, 3.2))
positions = np.arange(len(variances))
ax.bar(positions - 0.2, exact_var, width=0.4, label="exact (sum over all 216 trajectories)")
ax.bar(positions + 0.2, mc_var, width=0.4, label="Monte Carlo (2000 sampled episodes)")
ax.set_xticks(positions, [name.split(":")[0] for name in variances])
ax.set_ylabel("Var of one-episode estimate\n(sum over the 6 coordinates)")
ax.set_title("Same mean (grad J), different spread")
ax.legend()
plt.show()

# %% [markdown]
# **A constant in the rewards.** Add a constant $c$ to every reward. The gradient does not
# change (every policy gains the same $c \sum_t \gamma^t$), but each weight $\gamma^t G_t$ of the
# baseline-free estimator moves by $c\, \gamma^t \sum_{t' \ge t} \gamma^{t'-t}$, as if a baseline
# $b_t = -c \sum_{t' \ge t} \gamma^{t'-t}$ that ignores the state had been subtracted: the variance
# grows quadratically in $c$ on either side of its best offset. With the value baseline, $G_t$
# and $V_t$ shift by the same amount, so $G_t - V_t(s_t)$, and the whole estimator, are
# *exactly* the same for every $c$. The check: shift the rewards of our MDP by $c \in [-3, 3]$.

# %%
shifts = np.linspace(-3, 3, 13)
shifted_variances = {"rewards-to-go": [], "with baseline V": []}
for c in shifts:
    shifted = TabularMDP(mdp.initial, mdp.transitions, mdp.rewards + c, H)
    shifted_G = discounted_returns(shifted.rewards[tau.states, tau.actions], tau.masks, gamma=gamma)
    shifted_V = shifted.state_values(theta, gamma=gamma)
    for name, w in (("rewards-to-go", discount * shifted_G),
                    ("with baseline V", discount * (shifted_G - shifted_V[steps, tau.states]))):
        mean, var = exact_moments(per_trajectory_gradients(tau.states, tau.actions, w))
        assert torch.allclose(mean, grad_J, rtol=0, atol=1e-13), "a constant reward shift leaves grad J unchanged"
        shifted_variances[name].append(var.item())

assert np.ptp(shifted_variances["with baseline V"]) < 1e-12
assert min(shifted_variances["rewards-to-go"]) > max(shifted_variances["with baseline V"])
assert shifted_variances["rewards-to-go"][0] > 5 * min(shifted_variances["rewards-to-go"])

fig, ax = plt.subplots(figsize=(6, 3.2))
for name, curve in shifted_variances.items():
    ax.plot(shifts, curve, marker="o", label=name)
ax.set_xlabel("constant c added to every reward")
ax.set_ylabel("Var of one-episode estimate")
ax.set_yscale("log")
ax.set_title("A baseline makes the estimator blind to reward offsets")
ax.legend()
plt.show()

# %% [markdown]
# ### Step 7. The linear feature baseline of MAML-RL
#
# A real agent must *learn* its baseline. MAML-RL, following rllab (Duan et al., 2016), uses
# a linear regression on hand-made features of the observation $o_t$ and the step,
#
# $$\hat b(t, o_t) = x_t^\top w, \qquad x_t = \big[o_t,\; o_t^2,\; t/100,\; (t/100)^2,\; (t/100)^3,\; 1\big],$$
#
# ($o_t$ clipped to $\pm 10$, squares elementwise), with $w$ fit by ridge regression to the
# returns-to-go of a batch of episodes:
# $w = \arg\min_w \sum_{\text{steps}} (x_t^\top w - G_t)^2 + \kappa \|w\|^2$, that is
# $(X^\top X + \kappa I)\, w = X^\top G$ with the small ridge $\kappa = 10^{-5}$
# (`metarl_lite.rl.baselines.LinearFeatureBaseline`). On our MDP the observation is the
# one-hot vector of the state, so $\hat b(t, s) = w_s + f(t)$: a state term plus a cubic in
# $t$, which cannot represent $V_t(s)$ exactly, since $V$ mixes $t$ and $s$. Fit once, it is a
# fixed function of $(t, s_t)$, so step 5 applies: no bias. (MAML-RL fits it on the very batch
# whose gradient it then centres, so $\hat b$ depends a little on that batch's actions; the
# resulting bias shrinks like $1/N$ and is accepted in practice. Here we fit on the 2000
# Monte Carlo episodes and then use $\hat b$ as a fixed function.)
#
# The check: the fitted weights satisfy the normal equations; the estimator with $\hat b$ is
# exactly unbiased; and its variance is far below that of rewards-to-go, close to the one
# with the true $V$.

# %%
def one_hot_observations(states):
    """o_t = one-hot vector of s_t: [n, H] states -> [n, H, S] observations."""
    return torch.nn.functional.one_hot(states, S).double()


linear = LinearFeatureBaseline().fit(one_hot_observations(mc_states), mc_G, mc_masks)
X = torch.cat([one_hot_observations(mc_states), one_hot_observations(mc_states) ** 2,
               (steps.double()[None, :, None] / 100).expand(len(mc_states), H, 1) ** torch.arange(1, 4),
               torch.ones(len(mc_states), H, 1, dtype=torch.float64)], dim=-1).reshape(-1, 2 * S + 4)
normal_equations = X.T @ (X @ linear.weights - mc_G.reshape(-1)) + linear.ridge_used * linear.weights
assert normal_equations.abs().max() < 1e-8 * (X.T @ mc_G.reshape(-1)).abs().max()

b_linear = linear.predict(one_hot_observations(tau.states), tau.masks)  # b^(t, s_t) on every trajectory
with_linear_baseline = per_trajectory_gradients(tau.states, tau.actions, discount * (G - b_linear))
var_linear = exact_moments(with_linear_baseline)[1].item()
print(f"max |b^(t, s) - V_t(s)| = {(b_linear - V[steps, tau.states]).abs().max():.3f}")
print(f"exact Var: rewards-to-go {exact_var[1]:.3f}, linear baseline {var_linear:.3f}, true V {exact_var[2]:.3f}")
assert relative_bias(with_linear_baseline) < 1e-13
assert var_linear < exact_var[1] / 2 and abs(var_linear / exact_var[2] - 1) < 0.2

# %% [markdown]
# ### Step 8. Generalized advantage estimation
#
# The weight $G_t - \hat V_t(s_t)$ uses all future rewards of one episode, which is where
# the remaining variance comes from. A value estimate can also stand in for the future:
# the **TD error** $\delta_t = r_t + \gamma \hat V_{t+1}(s_{t+1}) - \hat V_t(s_t)$ uses one
# reward and then trusts $\hat V$. GAE (Schulman et al., 2016) blends the two with
# $\lambda \in [0, 1]$:
#
# $$\hat A^{(\lambda)}_t = \sum_{l \ge 0} (\gamma\lambda)^l\, \delta_{t+l} = \delta_t + \gamma\lambda\, \hat A^{(\lambda)}_{t+1}.$$
#
# For $\lambda = 1$ the sum **telescopes**: $\sum_l \gamma^l (r_{t+l} + \gamma \hat V_{t+l+1} - \hat V_{t+l})
# = G_t - \hat V_t(s_t)$, the baseline estimator of step 5. For $\lambda = 0$ it is $\delta_t$.
#
# **Bias.** With the true value function, $\mathbb{E}[\delta_{t+l} \mid h_{t+l}] = 0$ for
# $l \ge 1$ and $\mathbb{E}[\delta_t \mid h_t, a_t] = Q_t(s_t, a_t) - V_t(s_t)$, so every
# $\lambda$ gives an unbiased gradient. With an estimate $\hat V = V + e$, the error $e$
# enters $\hat A^{(1)}_t$ only as $-e_t(s_t)$, a baseline, so $\lambda = 1$ stays unbiased; for
# $\lambda < 1$ the errors $e_{t+l}(s_{t+l})$ at *future* states, which depend on $a_t$, remain:
# bias. **Variance.** Smaller $\lambda$ replaces more of the noisy future rewards by
# $\hat V$, so the variance falls (not always monotonically). $\lambda$ trades bias for variance.
#
# The checks: `metarl_lite.rl.returns.gae` against the sum written out; then the exact bias
# and variance as functions of $\lambda$ for three value estimates: the true $V$, the linear
# feature baseline of step 7, and the crudest one, $\hat V_t = \mathbb{E}[G_t]$, which ignores
# the state.

# %%
def gae_by_definition(rewards, values, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l} with V_H = 0, written out: [n, H] -> [n, H]."""
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)
    delta = rewards + gamma * next_values - values
    weights = torch.triu((gamma * lam) ** (steps[None, :] - steps[:, None]).double())  # [t, t + l]
    return delta @ weights.T


for lam in (0.0, 0.5, 1.0):
    assert torch.allclose(gae(tau.rewards, b_linear, tau.masks, gamma=gamma, lam=lam),
                          gae_by_definition(tau.rewards, b_linear, lam), rtol=1e-12, atol=1e-14)
assert torch.allclose(gae(tau.rewards, b_linear, tau.masks, gamma=gamma, lam=1.0), G - b_linear, rtol=1e-12, atol=1e-14)

value_estimates = {  # name -> V^_t(s_t) on every trajectory, [M, H]
    "true V": V[steps, tau.states],
    "linear feature baseline": b_linear,
    "state-blind E[G_t]": (tau.probs @ G).expand(M, H),
}
lambdas = np.linspace(0, 1, 11)


def gae_bias_and_variance(values, lam):
    """Relative bias and Var of the one-episode GAE(lambda) estimator sum_t grad l_t gamma^t A_t."""
    g = per_trajectory_gradients(tau.states, tau.actions, discount * gae(tau.rewards, values, tau.masks,
                                                                       gamma=gamma, lam=lam))
    return relative_bias(g), exact_moments(g)[1].item()


tradeoff = {name: np.array([gae_bias_and_variance(values, lam) for lam in lambdas])
            for name, values in value_estimates.items()}  # [len(lambdas), 2]: (bias, Var)

fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
for name, curve in tradeoff.items():
    axes[0].plot(lambdas, 100 * curve[:, 0], marker="o", label=name)
    axes[1].plot(lambdas, curve[:, 1], marker="o", label=name)
axes[0].set_ylabel("bias |E g - grad J| / |grad J| (%)")
axes[1].set_ylabel("Var of one-episode estimate")
for ax in axes:
    ax.set_xlabel("GAE lambda")
    ax.legend()
axes[0].set_title("Bias vanishes at lambda = 1 (and everywhere with the true V)")
axes[1].set_title("Variance is lowest for small lambda")
plt.tight_layout()
plt.show()

assert tradeoff["true V"][:, 0].max() < 1e-13
for name in ("linear feature baseline", "state-blind E[G_t]"):
    bias, var = tradeoff[name].T
    assert bias[-1] < 1e-13 and bias[:-1].min() > 1e-3, f"{name}: biased exactly when lambda < 1"
for name, (bias, var) in ((name, curve.T) for name, curve in tradeoff.items()):
    assert var[0] < var[-1], f"{name}: lambda = 0 should have less variance than lambda = 1"
    print(f"{name:<24} lambda = 0: bias {100 * bias[0]:5.2f}%, Var {var[0]:.3f};   "
          f"lambda = 1: bias {100 * bias[-1]:.0f}%, Var {var[-1]:.3f}")

# %% [markdown]
# The better the value estimate, the less bias a small $\lambda$ costs: none with the true $V$,
# a little with the linear baseline, and much more with the state-blind one, whose
# one-step $\delta_t$ barely knows where the episode is going. MAML-RL takes $\lambda = 1$:
# with a crude linear baseline, refit on every batch, it prefers no bias at all; methods with
# a learned neural critic on long tasks, such as PPO, typically use $\lambda = 0.95$.
#
# ### Step 9. The surrogate objective: a function whose gradient is the estimator
#
# Computing every episode's gradient separately, as we did for the checks, would be wasteful.
# Autodiff wants a scalar. Hold the weights fixed with a stop-gradient and sum:
#
# $$L(\theta) = \frac1N \sum_{i=1}^N \sum_{t} \ell_t^i(\theta)\, \perp\!\big[\gamma^t (G^i_t - b^i_t)\big],
#   \qquad \nabla L(\theta) = \frac1N \sum_i \sum_t \nabla \ell^i_t\, \gamma^t (G^i_t - b^i_t) = \hat g .$$
#
# `metarl_lite.rl.surrogates.loglik` is this $L$ (plus a constant, so that its *value* is the
# mean discounted return, a handy thing to log). One backward pass over a batch gives the
# estimator, and the exact expectation of $\nabla L$ over trajectories is $\nabla J$.
#
# One warning, which opens chapter 06: $L$ has the right gradient only because the episodes
# were treated as fixed data. Its second derivative is **not** $\nabla^2 J$: the Hessian of $J$
# also needs how the *sampling* of the episodes depends on $\theta$, which a surrogate
# evaluated on fixed episodes cannot see: the log-derivative trick was applied to the first
# derivative only. MAML-RL differentiates through an inner policy-gradient step, so it needs exactly
# that Hessian. The `dice` surrogate, which chapter 06 derives, has the same value and
# gradient and the exact Hessian. The checks: all of this, on the 2000 sampled episodes and
# exactly over all trajectories.

# %%
mc_baseline = linear.predict(one_hot_observations(mc_states), mc_masks)
mc_log_probs = mdp.log_probs(theta.clone().requires_grad_(), mc_states, mc_actions)
surrogate = loglik(mc_log_probs, mc_rewards, mc_masks, gamma=gamma, baseline=mc_baseline)
(grad_surrogate,) = torch.autograd.grad(surrogate, mc_log_probs)  # dL / d l_t = gamma^t (G_t - b_t) / N
grad_L = jacrev(lambda th: loglik(mdp.log_probs(th, mc_states, mc_actions), mc_rewards, mc_masks,
                                  gamma=gamma, baseline=mc_baseline))(theta).reshape(d)
per_episode = per_trajectory_gradients(mc_states, mc_actions, discount * (mc_G - mc_baseline))
assert torch.allclose(grad_L, per_episode.mean(0), rtol=1e-12, atol=1e-15)
assert torch.allclose(grad_surrogate, discount * (mc_G - mc_baseline) / len(mc_states), rtol=1e-12, atol=1e-15)
assert torch.isclose(surrogate, (mc_rewards * discount).sum(1).mean(), rtol=1e-12)
print(f"loglik value {surrogate:.4f} = mean discounted return of the batch; its gradient is the batch estimate")


def expected_surrogate(th, surrogate_fn):
    """E_tau[surrogate] as the sum over trajectories with p_theta held constant (TabularMDP.expectation)."""
    return mdp.expectation(th, lambda log_probs, one: surrogate_fn(
        log_probs, one.rewards, one.masks, gamma=gamma, baseline=linear.predict(one_hot_observations(one.states),
                                                                                one.masks)))


expected_grad = jacrev(expected_surrogate)(theta, loglik).reshape(d)
assert torch.allclose(expected_grad, grad_J, rtol=0, atol=1e-14)

true_hessian = hessian(lambda th: mdp.value(th, gamma=gamma), theta).reshape(d, d)
loglik_hessian = hessian(lambda th: expected_surrogate(th, loglik), theta, vectorize=True).reshape(d, d)
dice_hessian = hessian(lambda th: expected_surrogate(th, dice), theta, vectorize=True).reshape(d, d)
mismatch = ((loglik_hessian - true_hessian).norm() / true_hessian.norm()).item()
print(f"E[hess loglik] vs hess J: relative difference {mismatch:.2f}; "
      f"E[hess dice] vs hess J: {((dice_hessian - true_hessian).norm() / true_hessian.norm()).item():.0e}")
assert mismatch > 0.3
assert torch.allclose(dice_hessian, true_hessian, rtol=0, atol=1e-12)

# %% [markdown]
# ### Step 10. The loss MAML-RL actually minimizes
#
# MAML-RL's inner loss, `vpg_inner_loss`, is the surrogate with three practical changes,
# each visible in its formula,
#
# $$L_{\text{VPG}}(\theta) = -\frac{1}{\sum_{i, t} m^i_t} \sum_{i, t} m^i_t\, \ell^i_t(\theta)\, \perp\!\big[\bar A^i_t\big],
#   \qquad \bar A = \frac{\hat A - \operatorname{mean}(\hat A)}{\operatorname{std}(\hat A) + 10^{-8}},$$
#
# where $m^i_t \in \{0, 1\}$ marks the real steps (episodes that end early are padded), and
# mean and standard deviation run over the real steps of the batch:
#
# 1. a **minus sign** and a **mean over steps** instead of a sum per episode: a loss to
#    minimize, and a rescaling of the step size by $N / \sum_{i, t} m^i_t$, which is constant
#    only when every episode runs all $H$ steps; when episodes end early (at the goal in 2D
#    navigation) $\sum m$ varies from batch to batch, and so does the rescaling;
# 2. **normalized advantages**: subtracting the batch mean is one more (batch-dependent)
#    constant baseline, and dividing by the standard deviation makes the step length
#    independent of the scale of the rewards. Both statistics are computed from the same
#    episodes whose scores they weight, so they are not independent of them: the estimator
#    gets a bias of order $1/N$ (small for $N = 20$ episodes, but not zero);
# 3. **no factor $\gamma^t$**: each step is weighted as if it began the episode. This is
#    what almost every implementation does, and it is *not* the gradient of the discounted
#    $J$ (Thomas, 2014); $\gamma$ then only shortens the horizon the advantages look at.
#
# The checks: the gradient of `vpg_inner_loss` is $-\frac{1}{\sum m}\sum \nabla \ell_t \bar A_t$;
# and without $\gamma^t$ the exact expectation is biased (on this MDP it remains an ascent
# direction, nearly parallel to $\nabla J$).

# %%
mc_advantages = gae(mc_rewards, mc_baseline, mc_masks, gamma=gamma, lam=1.0)
grad_vpg = jacrev(lambda th: vpg_inner_loss(mdp.log_probs(th, mc_states, mc_actions), mc_advantages,
                                            mc_masks))(theta).reshape(d)
A_bar = (mc_advantages - mc_advantages.mean()) / (mc_advantages.std(correction=0) + 1e-8)  # every step is real here
by_hand = -per_trajectory_gradients(mc_states, mc_actions, A_bar).sum(0) / mc_masks.sum()
assert torch.allclose(grad_vpg, by_hand, rtol=1e-12, atol=1e-15)

without_discount = per_trajectory_gradients(tau.states, tau.actions, G - b_linear)  # sum_t grad l_t (G_t - b_t)
mean_without_discount = exact_moments(without_discount)[0]
cosine = (mean_without_discount @ grad_J / (mean_without_discount.norm() * grad_J.norm())).item()
print(f"without gamma^t: relative bias {relative_bias(without_discount):.3f}, cosine with grad J {cosine:.4f}")
assert relative_bias(without_discount) > 0.01 and cosine > 0.9

# %% [markdown]
# ## Pseudocode
#
# Vanilla policy gradient (VPG) with GAE and the linear feature baseline: MAML-RL's inner
# step, and, repeated, a complete RL algorithm (the experiment below uses Adam for the update).
#
# ```
# input: policy parameters theta, step size alpha, discount gamma, GAE lambda
# repeat:
#     sample N episodes with pi_theta                    # sample_episodes(env, params, horizon, seed)
#     G_t    <- sum_{t' >= t} gamma^(t'-t) r_t'          # discounted_returns(rewards, masks, gamma)
#     fit w on (x_t, G_t); V^_t <- x_t . w               # LinearFeatureBaseline().fit(...).predict(...)
#     A^_t   <- sum_l (gamma lambda)^l delta_{t+l}       # gae(rewards, values, masks, gamma, lam)
#     L(theta) <- -mean_t log pi_theta(a_t|s_t) Abar_t   # vpg_inner_loss(log_probs, advantages, masks)
#     theta  <- theta - alpha grad L(theta)              # one step of SGD (MAML-RL: alpha = 0.1), or Adam
# ```
#
# ## Library call
#
# Here is the same pipeline on 2D navigation (MAML paper, Sec. 5.3): a point starts at
# $(0, 0)$ and walks, with steps clipped to $\pm 0.1$ per coordinate, towards a goal it cannot
# see; the reward is minus its distance to the goal (as in the released code; the paper's
# text says squared distance), and an episode lasts $H = 100$ steps (or ends at the goal).
# `make_vec_env([task], episodes_per_task=20)` runs 20 episodes of one task in lockstep. The
# policy is a Gaussian whose mean is a 2-64-64-2 tanh MLP of the position, as in
# pytorch-maml-rl (the MAML paper used two hidden layers of 100 ReLU units), with a learned
# log standard deviation (`init_policy`). `sample_episodes` wants
# per-task parameters (a leading task dimension, here of size 1: `policies.stack([params])`)
# and returns padded `[episodes, T]` tensors with `masks`.

# %%
# NBVAL_CHECK_OUTPUT
TASK = navigation.sample_tasks(1, np.random.default_rng(1))[0]
env = navigation.make_vec_env([TASK], episodes_per_task=20)
GAMMA, LAM = 0.99, 1.0  # MAML-RL's discount and GAE lambda


def vpg_loss(params, episodes, *, use_baseline=True):
    """vpg_inner_loss on GAE(lambda = LAM) advantages, with the linear feature baseline (or none: V^ = 0)."""
    G_nav = discounted_returns(episodes.rewards, episodes.masks, gamma=GAMMA)
    values = (LinearFeatureBaseline().fit(episodes.obs, G_nav, episodes.masks).predict(episodes.obs, episodes.masks)
              if use_baseline else torch.zeros_like(G_nav))
    advantages = gae(episodes.rewards, values, episodes.masks, gamma=GAMMA, lam=LAM)
    log_probs = policies.log_prob(params, episodes.obs, episodes.actions)  # differentiable in params
    return vpg_inner_loss(log_probs, advantages, episodes.masks)


def mean_return(episodes):
    """Mean undiscounted return sum_t r_t over the episodes of a batch."""
    return masked(episodes.rewards, episodes.masks).sum(1).mean().item()


params = policies.init_policy(2, 2, seed=0)
episodes = sample_episodes(env, policies.stack([params]), horizon=navigation.HORIZON, seed=0)
loss = vpg_loss(params, episodes)
grads = torch.autograd.grad(loss, list(params.values()))
print(f"goal {np.round(TASK['goal'], 3).tolist()}")
print(", ".join(f"{name} {list(getattr(episodes, name).shape)}" for name in ("obs", "actions", "rewards", "masks")))
print("gradient shapes:", {k: list(g.shape) for k, g in zip(params, grads)})

# %% [markdown]
# The variance of step 6, measured on navigation: 20 independent batches of 20 episodes at
# the same initial policy, and for each the `loglik` gradient with and without the linear
# feature baseline (the unnormalized estimator, $\gamma = 0.99$, so that both estimate the
# same $\nabla J$). The cell prints the factor by which the baseline cuts the measured
# variance, about sevenfold, and checks that the two means agree to within 3 standard errors
# of their difference.

# %%
def flat_grad(scalar, params):
    """The gradient of a scalar with respect to every tensor of params, as one vector."""
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(scalar, list(params.values()))])


nav_grads = {"no baseline": [], "linear feature baseline": []}
for batch in range(20):
    eps = sample_episodes(env, policies.stack([params]), horizon=navigation.HORIZON, seed=100 + batch)
    G_nav = discounted_returns(eps.rewards, eps.masks, gamma=GAMMA)
    b_nav = LinearFeatureBaseline().fit(eps.obs, G_nav, eps.masks).predict(eps.obs, eps.masks)
    for name, b in (("no baseline", None), ("linear feature baseline", b_nav)):
        log_probs = policies.log_prob(params, eps.obs, eps.actions)
        nav_grads[name].append(flat_grad(loglik(log_probs, eps.rewards, eps.masks, gamma=GAMMA, baseline=b), params))
nav_grads = {name: torch.stack(g).double() for name, g in nav_grads.items()}  # [20, P]
nav_var = {name: g.var(0).sum().item() for name, g in nav_grads.items()}
for name, var in nav_var.items():
    print(f"{name:<24} Var of a 20-episode gradient estimate = {var:10.1f}")
reduction = nav_var["no baseline"] / nav_var["linear feature baseline"]
paired = nav_grads["no baseline"] - nav_grads["linear feature baseline"]  # both from the same 20 batches, [20, P]
difference = paired.mean(0)
standard_error = (paired.var(0).sum() / len(paired)) ** 0.5  # E|difference|^2 = standard_error^2 if the means agree
print(f"the baseline divides the variance by {reduction:.1f}; "
      f"|difference of the means| = {difference.norm():.1f} (standard error {standard_error:.1f})")
assert difference.norm() < 3 * standard_error, "both should estimate the same gradient"
assert 5 < reduction < 10, f"the text says about sevenfold, measured {reduction:.1f}"

# %% [markdown]
# ## Experiment: vanilla policy gradient on 2D navigation
#
# We train the policy on this one task for 30 iterations of 20 episodes each, with Adam
# (step size $5 \cdot 10^{-3}$) on `vpg_loss`, from three initializations, once with the linear
# feature baseline and once without it ($\hat V = 0$, so the advantages are the returns-to-go,
# centred only by the normalization). The six runs take about ten seconds of CPU time.

# %%
ITERATIONS, SEEDS = 30, (0, 1, 2)


def train(seed, *, use_baseline):
    """VPG with Adam on one navigation task; returns the learning curve [ITERATIONS] and the final params."""
    params = policies.init_policy(2, 2, seed=seed)
    optimizer = torch.optim.Adam(params.values(), lr=5e-3)
    curve = []
    for iteration in range(ITERATIONS):
        episodes = sample_episodes(env, policies.stack([params]), horizon=navigation.HORIZON,
                                   seed=1000 * seed + iteration)
        curve.append(mean_return(episodes))
        loss = vpg_loss(params, episodes, use_baseline=use_baseline)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return np.array(curve), params


runs = {}  # (use_baseline, seed) -> (learning curve, trained params)
for use_baseline in (True, False):
    for seed in tqdm(SEEDS, desc="linear baseline" if use_baseline else "no baseline"):
        runs[use_baseline, seed] = train(seed, use_baseline=use_baseline)

fig, ax = plt.subplots(figsize=(7, 3.8))
for use_baseline, colour in ((True, "C0"), (False, "C1")):
    curves = np.array([runs[use_baseline, seed][0] for seed in SEEDS])
    label = "GAE(lambda = 1) with linear baseline" if use_baseline else "no baseline (V^ = 0)"
    ax.plot(curves.mean(0), color=colour, label=f"{label}, mean of {len(SEEDS)} seeds")
    ax.fill_between(range(ITERATIONS), curves.min(0), curves.max(0), color=colour, alpha=0.2)
ax.set_xlabel("iteration (20 episodes each)")
ax.set_ylabel("mean return of the batch")
ax.set_title("Vanilla policy gradient on one navigation task (band: min to max over seeds)")
ax.legend()
plt.show()

final = {use_baseline: np.array([runs[use_baseline, seed][0][-5:].mean() for seed in SEEDS])
         for use_baseline in (True, False)}
first = np.array([runs[True, seed][0][0] for seed in SEEDS])  # the same first batch with or without baseline
print("return at iteration 0:", np.round(first, 1), "-> mean of the last 5 iterations:", np.round(final[True], 1),
      f"(no baseline: {np.round(final[False], 1)})")
assert all(np.all(final[use_baseline] > first + 50) for use_baseline in (True, False)), "every run should improve"
assert final[True].mean() > final[False].mean(), "with the baseline, the runs should end higher on average"

# %% [markdown]
# Every run improves its return by far within 30 iterations, and the runs with the baseline
# end higher. The gap in return is smaller than the gap in gradient variance measured above,
# partly because the normalization inside `vpg_inner_loss` already subtracts the batch's
# mean advantage, a constant baseline, from the "no baseline" runs too.
#
# And what the policy does, before and after: 20 episodes of the initial policy and 20 of the
# trained one (seed 0, with the baseline). Before, the Gaussian's standard deviation of 1
# saturates the $\pm 0.1$ action clip in most steps, so the point takes a random walk of
# mostly diagonal steps. After, it heads for the goal and jitters around it in steps of up to
# 0.1, since its exploration noise is still large; note the different scales of the panels.

# %%
trained = runs[True, SEEDS[0]][1]
before_after = {"before training": policies.init_policy(2, 2, seed=SEEDS[0]), f"after {ITERATIONS} iterations": trained}
fig, axes = plt.subplots(1, 2, figsize=(11, 5))
for ax, (title, p) in zip(axes, before_after.items()):
    eps = sample_episodes(env, policies.stack([p]), horizon=navigation.HORIZON, seed=12345)
    for path, mask in zip(eps.obs.numpy(), eps.masks.numpy()):
        ax.plot(*path[mask > 0].T, color="C0", alpha=0.5, linewidth=1)
    ax.plot(0, 0, "ko", label="start")
    ax.plot(*TASK["goal"], "r*", markersize=15, label="goal")
    ax.set_title(f"{title}: mean return {mean_return(eps):.1f}")
    ax.set_xlabel("x position")
    ax.set_ylabel("y position")
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Try it: GAE's bias and variance
#
# The slider $\eta$ mixes the value estimate between the true $V$ ($\eta = 0$) and the
# state-blind $\mathbb{E}[G_t]$ ($\eta = 1$): $\hat V = (1 - \eta) V + \eta\, \mathbb{E}[G_t]$.
# The slider $\lambda$ picks a point on the curves of step 8. How wrong can $\hat V$ be before
# $\lambda = 0.9$ costs more than 1% of bias? Does a worse $\hat V$ raise the variance at
# $\lambda = 1$, at $\lambda = 0$, or at both, and why?

# %%
def plot_gae_tradeoff(eta=0.5, lam=0.9):
    """GAE(lambda) bias and Var on the tabular MDP for V^ = (1 - eta) V + eta E[G_t]; returns both at lam."""
    values = (1 - eta) * value_estimates["true V"] + eta * value_estimates["state-blind E[G_t]"]
    curve = np.array([gae_bias_and_variance(values, other) for other in lambdas])
    point = gae_bias_and_variance(values, lam)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
    for ax, column, label in ((axes[0], 0, "bias (%)"), (axes[1], 1, "Var of one-episode estimate")):
        scale = 100 if column == 0 else 1
        ax.plot(lambdas, scale * curve[:, column], marker="o")
        ax.plot(lam, scale * point[column], "r*", markersize=14)
        ax.set_xlabel("GAE lambda")
        ax.set_ylabel(label)
    axes[0].set_title(f"eta = {eta:.2f}: bias {100 * point[0]:.2f}% at lambda = {lam:.2f}")
    axes[1].set_title(f"Var {point[1]:.3f} at lambda = {lam:.2f}")
    plt.tight_layout()
    plt.show()
    return point


# %%
# NBVAL_IGNORE_OUTPUT
interactive(plot_gae_tradeoff, eta=FloatSlider(value=0.5, min=0, max=1, step=0.05),
            lam=FloatSlider(value=0.9, min=0, max=1, step=0.05))

# %% [markdown]
# ## What to remember
#
# * The objective is $J(\theta) = \mathbb{E}_{\tau \sim p_\theta}[\sum_t \gamma^t r_t]$. The
#   log-derivative trick $\nabla p = p \nabla \log p$ makes its gradient an expectation, and
#   the dynamics drop out of $\nabla \log p_\theta(\tau) = \sum_t \nabla \log \pi_\theta(a_t \mid s_t)$:
#   REINFORCE, $\nabla J = \mathbb{E}[R(\tau) \sum_t \nabla \ell_t]$.
# * The score has mean zero given the past. Hence **causality** (weight each score by the
#   return-to-go $\gamma^t G_t$) and **baselines** (subtract any $b(t, s_t)$ that does not look
#   at $a_t$): both leave the gradient unbiased and lower the variance, a lot when the
#   rewards have a large offset.
# * **GAE** $\hat A^{(\lambda)}_t = \sum_l (\gamma\lambda)^l \delta_{t+l}$: $\lambda = 1$ is
#   $G_t - \hat V_t$, unbiased whatever $\hat V$; smaller $\lambda$ usually lowers the variance and
#   costs bias unless $\hat V = V$. MAML-RL uses $\lambda = 1$ with a linear feature baseline
#   fit per batch by ridge regression.
# * The **surrogate objective** $\sum_t \ell_t \perp[\gamma^t \hat A_t]$ has the estimator as its
#   gradient (`loglik`); MAML-RL's `vpg_inner_loss` adds a mean over steps, normalized
#   advantages and drops $\gamma^t$. The surrogate's Hessian is *not* $\nabla^2 J$: chapter 06
#   needs DiCE for that.
# * In code: `sample_episodes` -> `discounted_returns` -> `LinearFeatureBaseline` -> `gae` ->
#   `vpg_inner_loss` -> an optimizer step.
#
# ## Exercises
#
# 1. **The optimal baseline.** For one step ($H = 1$), show that the baseline $b(s)$ minimizing
#    $\mathrm{Var}[\nabla \ell\,(r - b(s))]$ is
#    $b^*(s) = \mathbb{E}[\|\nabla \ell\|^2 r \mid s] / \mathbb{E}[\|\nabla \ell\|^2 \mid s]$.
#    On `random_mdp(3, 2, 1, seed=0)` compute it, and compare its exact variance with that of
#    $b = V$.
# 2. **What causality cannot drop.** Step 4 dropped the rewards *before* each action. Show with
#    the exact table that the terms $\mathbb{E}[\nabla \ell_t \gamma^{t'} r_{t'}]$ for $t' \ge t$
#    do *not* vanish, and that dropping them biases the gradient.
# 3. **Discounting as variance reduction.** Measure on the tabular MDP the bias and variance of
#    the undiscounted-weight estimator $\sum_t \nabla \ell_t (G_t - V_t)$ (step 10) as an
#    estimate of the gradient of the *undiscounted* return $J_{\gamma = 1}$, for
#    $\gamma \in \{0.5, 0.9, 0.99, 1\}$ in $G_t$.
# 4. **GAE on navigation.** Rerun the experiment with `LAM = 0.95` and `LAM = 0.5`. Which
#    learns fastest, and why might a small $\lambda$ hurt with the linear baseline?
# 5. **SGD as in MAML-RL.** Replace Adam by one plain step $\theta \leftarrow \theta - \alpha \nabla L_{\text{VPG}}$
#    with $\alpha = 0.1$ per iteration. How much does one such step improve the return from the
#    initial policy? (This single step is MAML-RL's inner loop; chapter 06 learns an
#    initialization from which it goes much further.)
#
# ## References
#
# * R. J. Williams. *Simple Statistical Gradient-Following Algorithms for Connectionist
#   Reinforcement Learning.* Machine Learning 8, 1992. (REINFORCE.)
# * R. S. Sutton, D. McAllester, S. Singh, Y. Mansour. *Policy Gradient Methods for
#   Reinforcement Learning with Function Approximation.* NIPS 12 (1999 conference, proceedings
#   2000). (The policy-gradient theorem.)
# * E. Greensmith, P. L. Bartlett, J. Baxter. *Variance Reduction Techniques for Gradient
#   Estimates in Reinforcement Learning.* JMLR 5, 2004. (Baselines and the optimal baseline.)
# * J. Schulman, P. Moritz, S. Levine, M. Jordan, P. Abbeel. *High-Dimensional Continuous
#   Control Using Generalized Advantage Estimation.* ICLR 2016. (GAE.)
# * Y. Duan, X. Chen, R. Houthooft, J. Schulman, P. Abbeel. *Benchmarking Deep Reinforcement
#   Learning for Continuous Control.* ICML 2016. (rllab; the linear feature baseline.)
# * P. S. Thomas. *Bias in Natural Actor-Critic Algorithms.* ICML 2014. (Dropping $\gamma^t$.)
# * J. Achiam. *Spinning Up in Deep RL*, 2018. (The numbered derivation of the policy gradient
#   this chapter follows.)
# * C. Finn, P. Abbeel, S. Levine. *Model-Agnostic Meta-Learning for Fast Adaptation of Deep
#   Networks.* ICML 2017. (MAML-RL: VPG inner step, 2D navigation; chapter 06.)
# * J. Foerster, G. Farquhar, M. Al-Shedivat, T. Rocktäschel, E. Xing, S. Whiteson. *DiCE: The
#   Infinitely Differentiable Monte Carlo Estimator.* ICML 2018. (The surrogate with the exact
#   Hessian; chapter 06.)
