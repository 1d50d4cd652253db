"""Seconds per MAML-TRPO meta-iteration at paper size, against the sampling limit measured in the same run.

HalfCheetahVel, the `paper` config (40 tasks x 20 episodes x H 100, sampled before and after the
inner step: 160,000 environment steps), one meta-iteration of each of
  naive:  Fisher-vector products through the adaptation of all 40 tasks, sampling in this process;
  ours:   the `paper` config (Fisher-vector products on 10 tasks), sampling in a 2-worker SamplerPool,
          adaptation and outer step on 2 torch threads (`train --workers 2 --threads 2`);
each split into sampling / inner adaptation / outer (TRPO) step, and
  limit:  the iteration's environment steps at the raw ``mujoco.mj_step`` rate of this process
          (``sampler.raw_mujoco``: the physics alone), divided by the 2 cores.
Printed: the seconds and the ratios naive/limit, ours/limit (goal <= 2) and naive/ours.

Run: make bench   (or .venv/bin/python benchmarks/meta_iteration.py; about 1.5 minutes on an idle machine)
"""

import os
import time

import numpy as np
import torch

from metarl_lite import configs, seed_everything
from metarl_lite.rl import meta_rl, policies
from metarl_lite.rl.sampler import SamplerPool, sample_episodes
from metarl_lite.tasks import RL_FAMILIES
from sampler import best_rate, raw_mujoco

TASK, CORES = "halfcheetah-vel", 2


def one_iteration(config, make_env, fisher_tasks) -> dict:
    """The seconds of one ``maml_rl_step`` from an untrained policy, split as its metrics report them."""
    family = RL_FAMILIES[TASK]
    tasks = family.sample_tasks(config.meta_batch, np.random.default_rng(0))
    env = make_env(tasks, config.episodes_per_task)
    obs_dim, act_dim = env.single_observation_space.shape[0], env.single_action_space.shape[0]
    theta = policies.init_policy(obs_dim, act_dim, hidden=config.hidden, seed=0)
    sample_episodes(env, policies.stack([theta] * len(tasks)), horizon=2, seed=0)  # workers build their envs
    tic = time.perf_counter()
    _, m = meta_rl.maml_rl_step(theta, env, horizon=config.horizon, seed=0, inner_lr=config.inner_lr,
                                fisher_tasks=fisher_tasks, max_kl=config.max_kl, cg_iters=config.cg_iters,
                                damping=config.damping)
    total = time.perf_counter() - tic
    return {"total": total, "sample": m["sample_seconds"], "adapt": m["adapt_seconds"], "outer": m["outer_seconds"]}


def sampling_limit(config) -> float:
    """Seconds that 2 x (meta_batch x episodes x H) steps take in raw mj_step, spread over CORES."""
    family = RL_FAMILIES[TASK]
    env = family.make_vec_env(family.sample_tasks(4, np.random.default_rng(0)), 10)
    obs_dim, act_dim = env.single_observation_space.shape[0], env.single_action_space.shape[0]
    params = policies.stack([policies.init_policy(obs_dim, act_dim, seed=0)] * 4)
    rate = max(best_rate(raw_mujoco(env, params, config.horizon)) for _ in range(3))
    steps = (config.inner_steps + 1) * config.meta_batch * config.episodes_per_task * config.horizon
    return steps / rate / CORES


def main():
    seed_everything(0)
    config = configs.make_config("maml", TASK, "paper")
    print(f"MAML-TRPO on {TASK}, paper config: {config.meta_batch} tasks x {config.episodes_per_task} episodes x "
          f"H {config.horizon}, Fisher-vector products on {config.fisher_tasks} tasks; {os.cpu_count()} cores")
    limit = sampling_limit(config)
    naive = one_iteration(config, RL_FAMILIES[TASK].make_vec_env, None)
    with SamplerPool(TASK, workers=CORES) as pool:
        torch.set_num_threads(CORES)  # the workers wait while this process adapts and takes the outer step
        ours = one_iteration(config, pool.make_vec_env, config.fisher_tasks)
        torch.set_num_threads(1)
    print(f"{'':8s} {'total':>7s} {'sample':>7s} {'adapt':>7s} {'outer':>7s}   seconds per meta-iteration")
    for name, split in (("naive", naive), ("ours", ours)):
        print(f"{name:8s} " + " ".join(f"{split[k]:7.2f}" for k in ("total", "sample", "adapt", "outer")))
    print(f"{'limit':8s} {limit:7.2f}   (raw mj_step on {CORES} cores)")
    print(f"naive/limit {naive['total'] / limit:.2f}   ours/limit {ours['total'] / limit:.2f} (goal <= 2)   "
          f"naive/ours {naive['total'] / ours['total']:.2f}")


if __name__ == "__main__":  # the pool's workers are spawned: they import this file without running main
    main()
