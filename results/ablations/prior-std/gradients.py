"""Probabilistic MAML's mu-gradient against MAML-RL's meta-gradient on HalfCheetahDir, at the shared initialization.

One meta-batch of 10 forward and 10 backward tasks x 10 episodes (seed 3), from theta_0 = the `paper` config's
initial policy (every Dir run starts there). Printed: how far MAML-RL's meta-gradient on another meta-batch
(seed 4) lies from it, |g_4 - g_3| / |g_3|, the batch noise; the same distance for the mu-gradient of one
`pmaml_rl_step` with sigma = sigma_0 (read off an SGD step of size 1, as in chapter 09, step 9); and the
directions of the two outer steps from the same gradient: MAML's TRPO step and the first step of
probabilistic MAML's Adam, lr * sign(g) (Adam's first step normalizes every coordinate).

On 2D navigation the mu-gradient tends to MAML's as sigma -> 0 (chapter 09). HalfCheetah is chaotic: draws
even 1e-6 away from theta_0 run other episodes than theta_0 with the same seed, so the distance stays at the
batch noise (the sigma_0 = 1e-6 line), and a draw's own effect shows only where it exceeds that.

Run: .venv/bin/python results/ablations/prior-std/gradients.py   (about half a minute)
"""

import torch

from metarl_lite import configs
from metarl_lite.rl import meta_rl, policies
from metarl_lite.rl.training import make_learner
from metarl_lite.tasks import RL_FAMILIES

SEED, OTHER_SEED, EPISODES = 3, 4, 10
config = configs.make_config("maml", "halfcheetah-dir", "paper")
pmaml_config = configs.make_config("pmaml", "halfcheetah-dir", "paper")
theta = make_learner(config).theta
tasks = [{"direction": d} for _ in range(10) for d in (1, -1)]
env = RL_FAMILIES["halfcheetah-dir"].make_vec_env(tasks, EPISODES)


def flat(params: dict) -> torch.Tensor:
    return torch.cat([v.detach().reshape(-1) for v in params.values()])


def maml_gradient(seed: int) -> torch.Tensor:
    """MAML-RL's meta-gradient at theta_0 on the meta-batch sampled with ``seed``."""
    path = meta_rl.sample_path(env, policies.stack([meta_rl.detached(theta)] * len(tasks)),
                               inner_lr=config.inner_lr, horizon=config.horizon, seed=seed)
    leaves = {k: v.detach().requires_grad_() for k, v in theta.items()}
    surrogate = meta_rl.meta_surrogate(leaves, path, inner_lr=config.inner_lr)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(surrogate, list(leaves.values()))])


def pmaml_gradient(std: float, seed: int) -> torch.Tensor:
    """The mu-gradient of one pmaml_rl_step at mu = theta_0, sigma = sigma_0 = ``std``."""
    dist = meta_rl.PolicyDistribution(theta, prior_std=std)
    before = flat(dist.mu)
    meta_rl.pmaml_rl_step(dist, torch.optim.SGD(dist.parameters(), lr=1.0), env, horizon=config.horizon, seed=seed,
                          inner_lr=config.inner_lr)
    return flat(dist.mu) - before


def distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a, b, dim=0).item()


if __name__ == "__main__":
    torch.set_num_threads(1)
    g = maml_gradient(SEED)
    print(f"MAML-RL on another meta-batch: relative distance {distance(maml_gradient(OTHER_SEED), g):.2f}")
    for std in (0.1, 0.01, 1e-6):
        print(f"probabilistic MAML, sigma_0 = {std:g}: relative distance {distance(pmaml_gradient(std, SEED), g):.2f}")
    new, _ = meta_rl.maml_rl_step(meta_rl.detached(theta), env, horizon=config.horizon, seed=SEED,
                                  inner_lr=config.inner_lr, fisher_tasks=10, max_kl=config.max_kl)
    trpo, adam = flat(new) - flat(theta), pmaml_config.outer_lr * torch.sign(g)
    print(f"TRPO step: length {trpo.norm():.3f}, cos with the gradient {cosine(trpo, g):.2f}")
    print(f"Adam's first step: length {adam.norm():.3f}, cos with the gradient {cosine(adam, g):.2f}, "
          f"with the TRPO step {cosine(adam, trpo):.2f}")
