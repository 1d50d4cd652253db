"""How far one outer step moves the policy before adaptation, on HalfCheetahDir: KL(pi_old || pi_new).

For each run, from its checkpoint: the next STEPS meta-iterations exactly as training would take them
(`iteration_draws`: the same tasks and seeds), and after each, the mean over states of
KL(pi_old(. | s) || pi_new(. | s)) between the policy before and after the step (theta; for probabilistic
MAML the mean policy mu), on a fresh batch of pi_old's episodes on the step's tasks. MAML's TRPO step bounds
a KL of this kind, that of the adapted policies, by delta = 0.01; ProMP's Adam steps are clipped; probabilistic
MAML's Adam step is bounded by nothing but its learning rate.

Run: .venv/bin/python results/ablations/prior-std/step_kl.py [RUN ...]   (a few minutes; default: the runs below)
"""

import sys

import numpy as np
import torch

from metarl_lite.rl import meta_rl, policies
from metarl_lite.rl.sampler import sample_episodes
from metarl_lite.rl.training import iteration_draws, load_learner, make_env_fn

STEPS = 3
RUNS = ("results/halfcheetah-dir/maml", "results/halfcheetah-dir/promp", "results/halfcheetah-dir/pmaml",
        "results/ablations/longer-training/halfcheetah-dir/pmaml", "results/ablations/prior-std/halfcheetah-dir/pmaml")


def mean_policy(learner) -> dict:
    """A copy of the policy before adaptation: theta, or mu of probabilistic MAML's distribution (which
    Adam updates in place)."""
    return {k: v.detach().clone() for k, v in learner.policy.items()}


def step_kls(run: str) -> list:
    """KL(pi_old || pi_new) of each of the next STEPS outer steps of ``run``."""
    learner, kls = load_learner(run), []
    c = learner.config
    for iteration in range(learner.iteration + 1, learner.iteration + 1 + STEPS):
        tasks, seed = iteration_draws(c, iteration)
        env, old = make_env_fn(c)(tasks, c.episodes_per_task), mean_policy(learner)
        learner.step(env, seed)
        n = len(tasks)
        episodes = sample_episodes(env, policies.stack([old] * n), horizon=c.horizon, seed=seed + 1)
        kls.append(policies.kl(policies.stack([old] * n), policies.stack([mean_policy(learner)] * n),
                               meta_rl.per_task(episodes.obs, n), meta_rl.per_task(episodes.masks, n)).item())
    return kls


if __name__ == "__main__":
    torch.set_num_threads(1)
    for run in sys.argv[1:] or RUNS:
        kls = step_kls(run)
        print(f"{run}: KL of the next {STEPS} steps " + ", ".join(f"{kl:.4f}" for kl in kls)
              + f" (mean {np.mean(kls):.4f})")
