"""A finite-horizon tabular MDP where the expected return of a softmax policy is exact.

S states, A actions, horizon H; initial distribution rho[s], transitions P[s, a, s'], rewards
R[s, a]. The policy pi_theta(a | s, t) = softmax(theta[t, s])_a has logits theta of shape [H, S, A]
(one table per step, the optimal-policy class of a finite-horizon MDP) or [S, A] (one stationary
table used at every step, like the neural policies of the course); both are accepted.

The value V(theta) = E[sum_{t < H} gamma^t R(s_t, a_t)] comes from the backward recursion

    V_H(s) = 0,   Q_t(s, a) = R(s, a) + gamma sum_s' P(s, a, s') V_{t+1}(s'),
    V_t(s) = sum_a pi_theta(a | s, t) Q_t(s, a),   V(theta) = sum_s rho(s) V_0(s),

written in torch, so ``torch.func.grad`` / ``hessian`` give its exact gradient and Hessian. For
tiny MDPs all (S A)^H trajectories tau = (s_0, a_0, ..., s_{H-1}, a_{H-1}) can be listed with their
probabilities p_theta(tau), which turns the expectation of any estimator into an exact finite
sum: E_{tau ~ p_theta}[f(theta; tau)] = sum_tau ⊥p_theta(tau) f(theta; tau), where ⊥ (stop-gradient)
makes p a constant, so derivatives of the sum are expectations of derivatives of f.
"""

import itertools
from typing import NamedTuple

import numpy as np
import torch

MAX_TRAJECTORIES = 100_000


class Trajectories(NamedTuple):
    """All trajectories of a TabularMDP (one per row), as [N, H] tensors, and their probabilities."""

    states: torch.Tensor  # [N, H] long
    actions: torch.Tensor  # [N, H] long
    rewards: torch.Tensor  # [N, H], R(s_t, a_t)
    masks: torch.Tensor  # [N, H], all ones (no early termination)
    probs: torch.Tensor  # [N], p_theta(tau), detached: a constant


class TabularMDP:
    """rho [S], P [S, A, S], R [S, A] (floating tensors of one dtype) and the horizon H."""

    def __init__(self, initial: torch.Tensor, transitions: torch.Tensor, rewards: torch.Tensor, horizon: int):
        if not all(isinstance(x, torch.Tensor) and x.is_floating_point() for x in (initial, transitions, rewards)):
            raise ValueError("initial, transitions and rewards must be floating-point tensors")
        n_states, n_actions = rewards.shape if rewards.dim() == 2 else (0, 0)
        if n_states < 1 or initial.shape != (n_states,) or transitions.shape != (n_states, n_actions, n_states):
            raise ValueError(
                f"need rewards [S, A], initial [S], transitions [S, A, S]; got rewards {list(rewards.shape)}, "
                f"initial {list(initial.shape)}, transitions {list(transitions.shape)}"
            )
        for name, dist in (("initial", initial), ("transitions", transitions)):
            if (dist < 0).any() or not torch.allclose(dist.sum(-1), torch.ones((), dtype=dist.dtype)):
                raise ValueError(f"{name} must be probabilities: non-negative, summing to 1 over the last axis")
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
        self.initial, self.transitions, self.rewards, self.horizon = initial, transitions, rewards, horizon
        self.n_states, self.n_actions = n_states, n_actions

    def policy(self, theta: torch.Tensor) -> torch.Tensor:
        """log pi_theta(a | s, t) as a [H, S, A] tensor, from logits [H, S, A] or stationary [S, A]."""
        shape = (self.n_states, self.n_actions)
        if not isinstance(theta, torch.Tensor) or theta.shape not in ((self.horizon, *shape), shape):
            raise ValueError(
                f"theta must be logits [H, S, A] = {[self.horizon, *shape]} or stationary [S, A] = {list(shape)}; "
                f"got {list(theta.shape) if isinstance(theta, torch.Tensor) else type(theta).__name__}"
            )
        return torch.log_softmax(theta, dim=-1).expand(self.horizon, *shape)

    def state_values(self, theta: torch.Tensor, *, gamma: float = 1.0) -> torch.Tensor:
        """V_t(s) = E[sum_{t' >= t} gamma^(t' - t) R(s_t', a_t') | s_t = s], shape [H, S]."""
        pi = self.policy(theta).exp()
        v = torch.zeros(self.n_states, dtype=pi.dtype)  # V_H
        values = []
        for t in reversed(range(self.horizon)):
            q = self.rewards + gamma * self.transitions @ v  # Q_t [S, A]
            v = (pi[t] * q).sum(-1)
            values.append(v)
        return torch.stack(values[::-1])

    def value(self, theta: torch.Tensor, *, gamma: float = 1.0) -> torch.Tensor:
        """V(theta) = sum_s rho(s) V_0(s), the exact expected discounted return (a scalar)."""
        return self.initial @ self.state_values(theta, gamma=gamma)[0]

    def log_probs(self, theta: torch.Tensor, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """log pi_theta(a_t | s_t, t) for [N, H] states and actions, shape [N, H]."""
        if states.shape != actions.shape or states.dim() != 2 or states.shape[1] != self.horizon:
            raise ValueError(
                f"states and actions must be [N, H = {self.horizon}]; "
                f"got {list(states.shape)} and {list(actions.shape)}"
            )
        steps = torch.arange(self.horizon)
        return self.policy(theta)[steps, states, actions]

    def trajectories(self, theta: torch.Tensor) -> Trajectories:
        """Every trajectory (s_0, a_0, ..., s_{H-1}, a_{H-1}) and its probability under pi_theta:
        p(tau) = rho(s_0) prod_t pi_theta(a_t | s_t, t) prod_{t < H-1} P(s_{t+1} | s_t, a_t)."""
        n = (self.n_states * self.n_actions) ** self.horizon
        if n > MAX_TRAJECTORIES:
            raise ValueError(f"(S A)^H = {n} trajectories is too many to enumerate; use a smaller MDP")
        pairs = itertools.product(range(self.n_states), range(self.n_actions))
        table = torch.tensor(list(itertools.product(pairs, repeat=self.horizon)))  # [N, H, 2]
        states, actions = table[..., 0], table[..., 1]
        moves = self.transitions[states[:, :-1], actions[:, :-1], states[:, 1:]]  # [N, H - 1]
        log_p = self.initial[states[:, 0]].log() + self.log_probs(theta, states, actions).sum(1) + moves.log().sum(1)
        rewards = self.rewards[states, actions]
        return Trajectories(states, actions, rewards, torch.ones_like(rewards), log_p.exp().detach())

    def expectation(self, theta: torch.Tensor, estimate) -> torch.Tensor:
        """E_{tau ~ p_theta}[estimate] = sum_tau ⊥p_theta(tau) estimate(log_probs, trajectory), exactly.

        ``estimate(log_probs, trajectory)`` gets one trajectory at a time: log_probs [1, H] (a
        function of theta) and a ``Trajectories`` of one row; e.g.
        ``lambda lp, tau: dice(lp, tau.rewards, tau.masks, gamma=1.0)``. Because p is a constant,
        the gradient and Hessian of the result in theta are the expected gradient and Hessian.
        """
        batch = self.trajectories(theta)
        log_probs = self.log_probs(theta, batch.states, batch.actions)
        total = 0.0
        for i, p in enumerate(batch.probs):
            one = Trajectories(*(x[i : i + 1] for x in batch))
            total = total + p * estimate(log_probs[i : i + 1], one)
        return total


def random_mdp(n_states: int, n_actions: int, horizon: int, seed: int, dtype=torch.float64) -> TabularMDP:
    """A random TabularMDP: rho and every P(. | s, a) ~ Dirichlet(1, ..., 1), R(s, a) ~ N(0, 1)."""
    for name, value in (("n_states", n_states), ("n_actions", n_actions)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    rng = np.random.default_rng(seed)
    initial = rng.dirichlet(np.ones(n_states))
    transitions = rng.dirichlet(np.ones(n_states), size=(n_states, n_actions))
    rewards = rng.standard_normal((n_states, n_actions))
    return TabularMDP(*(torch.as_tensor(x, dtype=dtype) for x in (initial, transitions, rewards)), horizon)
