"""How the AntDir runs' policies (before adaptation) end their episodes, on 10 held-out tasks x 5 episodes.

Per run: the policy's mean exploration std, the mean episode length (H = 200), how many episodes ended
with the torso above 1.0 m (the upper end of AntDir's healthy range) or below 0.2 m, and per live
step the control cost 0.5 ||clip(a)||^2, the reward, and the velocity along the task's direction,
d . v = r - 1 + 0.5 ||clip(a)||^2 + 0.0005 c (AntDir's reward solved for it; c from the observed
contact forces). While a step's reward is negative on average, a shorter episode has the higher
return. The last default row is the untrained policy with its exploration std set to 0.35 instead of 1
(the start of the runs in results/ablations/policy-std).

Run: .venv/bin/python results/ant-dir/episode_ends.py [RUN ...]   (a few seconds per run; default: the
runs of results/ant-dir and that last row)
"""

import sys

import math

import numpy as np
import torch

from metarl_lite.rl import policies
from metarl_lite.rl.training import TEST_SEED, held_out_tasks, load_learner, make_env_fn
from metarl_lite.tasks.mujoco.ant import CONTACT_COST, HEALTHY_Z

TASKS, EPISODES = 10, 5
CONTACT_FORCES = 13 * 6  # the observation ends with them


def episode_ends(run: str, std=None) -> dict:
    """The measurements of the module docstring for the policy of ``run`` (its std replaced by ``std``)."""
    learner = load_learner(run)
    c, theta = learner.config, dict(learner.init)
    if std is not None:
        theta[policies.LOG_STD] = torch.full_like(theta[policies.LOG_STD], math.log(std))
    tasks = held_out_tasks(c, TASKS, TEST_SEED)
    env = make_env_fn(c)(tasks, EPISODES)
    obs, _ = env.reset(seed=0)
    params, noise = policies.stack([theta] * TASKS), torch.Generator().manual_seed(0)
    live, length, high, low = np.ones(env.num_envs, bool), np.zeros(env.num_envs), 0, 0
    ctrl, reward, along = [], [], []
    for _ in range(c.horizon):
        with torch.no_grad():
            action, _ = policies.sample(params, torch.as_tensor(obs, dtype=torch.float32).view(TASKS, EPISODES, -1),
                                        noise)
            action = action.reshape(env.num_envs, -1)
        obs, r, terminated, _, _ = env.step(action.numpy())
        cost = 0.5 * np.square(np.clip(action.numpy(), -1, 1)).sum(1)
        contact = np.square(obs[:, -CONTACT_FORCES:]).sum(1)  # observed clipped cfrc_ext of the bodies after the world
        ctrl += list(cost[live])
        reward += list(r[live])
        along += list((r - 1 + cost + CONTACT_COST * contact)[live])
        length += live
        z = obs[:, 0]  # the torso height qpos[2], the first observation
        ended = live & terminated
        high, low = high + int((ended & (z > HEALTHY_Z[1])).sum()), low + int((ended & (z < HEALTHY_Z[0])).sum())
        live &= ~terminated
        if not live.any():
            break
    return {"std": theta[policies.LOG_STD].detach().exp().mean().item(), "length": length.mean(), "above 1.0 m": high,
            "below 0.2 m": low, "control cost / step": float(np.mean(ctrl)), "reward / step": float(np.mean(reward)),
            "d . v / step": float(np.mean(along))}


if __name__ == "__main__":
    torch.set_num_threads(1)
    runs = [(run, None) for run in sys.argv[1:]] or [
        *((f"results/ant-dir/{name}", None) for name in ("random", "maml", "oracle")), ("results/ant-dir/random", 0.35)]
    for run, std in runs:
        result = episode_ends(run, std)
        print(f"{run}: " + ", ".join(f"{k} {v:.3g}" for k, v in result.items()) + f" (of {TASKS * EPISODES} episodes)")
