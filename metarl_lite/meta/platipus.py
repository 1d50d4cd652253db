"""Probabilistic MAML: PLATIPUS (Finn, Xu, Levine 2018, Algorithm 1), for regression.

A Gaussian prior p(theta) = N(mu, sigma^2) over the initial parameters. Given a task's support
set D_tr and query set D_te (mean squared error L, inner step size alpha):

    p(theta | D_tr)       = N(mu - gamma_p grad_mu L(mu, D_tr), sigma^2)       (the learned prior step)
    q(theta | D_te)       = N(mu - gamma_q grad_mu L(mu, D_te), v_q)          (the inference network)
    theta ~ q,  phi = theta - alpha grad_theta L(theta, D_tr)                  (MAML's inner step)

    negative ELBO = -log N(y_te | f_phi(x_te), noise_std^2) + kl_weight * KL(q || p(theta | D_tr)),

summed over query points, averaged over tasks, and minimized over mu, log sigma, log v_q,
gamma_p, gamma_q. At test time theta ~ p(theta | D_tr) and phi = theta - alpha grad L(theta, D_tr):
different samples give different functions where the support set leaves the task ambiguous.
"""

import math

import torch
from torch import nn
from torch.func import grad, vmap

from ..nn import init_mlp, mlp, mse_loss
from ._checks import check_step_size, check_steps
from .maml import _check_tasks, _stack


def gaussian_kl(mean_q, var_q, mean_p, var_p):
    """KL(N(mean_q, var_q) || N(mean_p, var_p)) for diagonal Gaussians, summed over all entries."""
    return 0.5 * sum(
        (torch.log(var_p[k] / var_q[k]) + (var_q[k] + (mean_q[k] - mean_p[k]) ** 2) / var_p[k] - 1).sum()
        for k in mean_q
    )


class Platipus(nn.Module):
    """Learned mu, log sigma, log v_q and per-tensor step sizes gamma_p, gamma_q over an MLP."""

    def __init__(self, sizes, *, inner_lr: float, kl_weight: float, noise_std: float, seed: int,
                 init_std: float = 0.05, activation: str = "relu"):
        super().__init__()
        self.inner_lr = check_step_size("inner_lr", inner_lr)
        self.kl_weight = check_step_size("kl_weight", kl_weight)
        self.noise_std = check_step_size("noise_std", noise_std)
        if self.noise_std == 0:
            raise ValueError("noise_std must be > 0 (it is the likelihood's standard deviation)")
        self.sizes = list(sizes)
        self.activation = activation
        theta = init_mlp(sizes, seed=seed)
        self.names = list(theta)

        def table(make):
            return nn.ParameterDict({self._key(k): nn.Parameter(make(v)) for k, v in theta.items()})

        if not check_step_size("init_std", init_std) > 0:
            raise ValueError(f"init_std must be > 0 (the initial sigma and sqrt(v_q)), got {init_std}")
        log_std = math.log(init_std)
        self.mu = table(lambda v: v.detach().clone())
        self.log_sigma = table(lambda v: torch.full_like(v, log_std))
        self.log_v_q = table(lambda v: torch.full_like(v, 2 * log_std))
        self.gamma_p = table(lambda v: torch.tensor(self.inner_lr))
        self.gamma_q = table(lambda v: torch.tensor(self.inner_lr))

    @staticmethod
    def _key(name: str) -> str:
        return name.replace(".", "_")  # nn.ParameterDict keys cannot contain dots

    def _dict(self, table) -> dict:
        return {k: table[self._key(k)] for k in self.names}

    def loss(self, params, batch):
        """The inner-loop loss L: mean squared error of the MLP."""
        return mse_loss(params, batch, self.activation)

    def _shifted_mean(self, gamma, batch) -> dict:
        """mu - gamma * grad_mu L(mu, batch), the mean of p(theta | D_tr) or q(theta | D_te)."""
        mu, gamma = self._dict(self.mu), self._dict(gamma)
        g = grad(self.loss)(mu, batch)
        return {k: mu[k] - gamma[k] * g[k] for k in mu}

    def _adapt(self, theta, support, steps=1):
        for _ in range(steps):
            g = grad(self.loss)(theta, support)
            theta = {k: theta[k] - self.inner_lr * g[k] for k in theta}
        return theta

    def _task_elbo(self, support, query, eps):
        mean_q = self._shifted_mean(self.gamma_q, query)
        mean_p = self._shifted_mean(self.gamma_p, support)
        var_q = {k: v.exp() for k, v in self._dict(self.log_v_q).items()}
        var_p = {k: (2 * v).exp() for k, v in self._dict(self.log_sigma).items()}
        theta = {k: mean_q[k] + var_q[k].sqrt() * eps[k] for k in mean_q}
        phi = self._adapt(theta, support)
        x, y = query
        residual = (mlp(phi, x, self.activation) - y) / self.noise_std
        nll = (0.5 * residual**2 + math.log(self.noise_std) + 0.5 * math.log(2 * math.pi)).sum()
        return nll + self.kl_weight * gaussian_kl(mean_q, var_q, mean_p, var_p)

    def elbo_loss(self, tasks) -> torch.Tensor:
        """Negative ELBO averaged over tasks (a task is (support, query), each an (x, y) pair)."""
        tasks = _check_tasks(tasks)
        supports = _stack([s for s, _ in tasks])
        queries = _stack([q for _, q in tasks])
        n = len(tasks)
        eps = {k: torch.randn((n, *p.shape), dtype=p.dtype) for k, p in self._dict(self.mu).items()}
        if supports is None or queries is None:
            return torch.stack(
                [self._task_elbo(s, q, {k: e[i] for k, e in eps.items()}) for i, (s, q) in enumerate(tasks)]
            ).mean()
        return vmap(self._task_elbo)(supports, queries, eps).mean()

    def prior_samples(self, supports, n_samples: int) -> dict:
        """theta ~ p(theta | D_tr) = N(mu - gamma_p grad L(mu, D_tr), sigma^2) for a stack of support
        sets (x [tasks, K, 1], y [tasks, K, 1]): a dict of tensors [tasks, n_samples, ...]."""
        check_steps("n_samples", n_samples)
        mean_p = vmap(self._shifted_mean, in_dims=(None, 0))(self.gamma_p, supports)
        return {
            k: (m[:, None] + self.log_sigma[self._key(k)].exp() * torch.randn(m.shape[0], n_samples, *m.shape[1:], dtype=m.dtype)).detach()
            for k, m in mean_p.items()
        }

    def sample_prior(self, support, n_samples: int) -> list:
        """n_samples draws theta ~ p(theta | D_tr) for one support set, as a list of param dicts."""
        stacked = self.prior_samples(tuple(t[None] for t in support), n_samples)
        return [{k: v[0, i] for k, v in stacked.items()} for i in range(n_samples)]

    def sample_adapted(self, support, n_samples: int, steps: int = 1) -> list:
        """n_samples adapted parameter dicts: theta ~ p(theta | D_tr), then ``steps`` inner steps."""
        steps = check_steps("steps", steps)
        return [
            {k: v.detach() for k, v in self._adapt(theta, support, steps).items()}
            for theta in self.sample_prior(support, n_samples)
        ]
