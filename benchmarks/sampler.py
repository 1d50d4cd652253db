"""Environment steps per second of the episode sampler on the MuJoCo task families, as ratios.

For each family, 40 slots (4 tasks x 10 episodes), an untrained (64, 64) tanh policy, one run each of:
  a. our sampler in this process: ``sample_episodes(family.make_vec_env(...), ...)``;
  b. our sampler with 2 worker processes (``SamplerPool``, started and warmed up beforehand);
  c. gymnasium's ``SyncVectorEnv`` over 40 of gymnasium's own v5 envs of the robot, stepped with the
     same batched policy (in a temporary folder: gymnasium's HalfCheetah appends MuJoCo 4's
     deprecation warning to MUJOCO_LOG.TXT in the current folder);
  d. a raw ``mujoco.mj_step(model, data, frame_skip)`` loop over the 40 MjData of (a) that replays
     (a)'s episodes: the same initial states and (clipped) actions, so the same physics, and
     nothing else: the physical limit of one process.
Printed: steps per second and the ratios a/d, b/a, a/c, b/c. Goals on HalfCheetah: a/d >= 0.85,
b/a >= 1.6, a/c >= 1.5, b/c >= 2.4. The four take turns for ``ROUNDS`` rounds of one rollout each
(H steps of every slot, a few seconds per family in all) and each keeps its fastest round, so that
load from other processes hits them alike; the ratios are the numbers to compare.

Run: make bench   (or .venv/bin/python benchmarks/sampler.py [family ...])
"""

import os
import sys
import tempfile
import time

import gymnasium as gym
import mujoco
import numpy as np
import torch

from metarl_lite import seed_everything
from metarl_lite.rl import policies
from metarl_lite.rl.sampler import SamplerPool, sample_episodes, task_means
from metarl_lite.tasks import RL_FAMILIES
from metarl_lite.tasks.mujoco import FAMILIES, common

TASKS, EPISODES = 4, 10  # 40 slots
ROUNDS = 5
SEED = 1
GYMNASIUM = {"half_cheetah.xml": "HalfCheetah-v5", "ant.xml": "Ant-v5", "walker2d_v5.xml": "Walker2d-v5",
             "hopper.xml": "Hopper-v5"}
GOALS = {"a/d": 0.85, "b/a": 1.6, "a/c": 1.5, "b/c": 2.4}  # on HalfCheetah


def best_rate(run_once) -> float:
    """Steps per second of one call of ``run_once() -> steps``."""
    tic = time.perf_counter()
    steps = run_once()
    return steps / (time.perf_counter() - tic)


def ours(env, params, horizon):
    """One sampler call (env reset included, the same seed every time); its real steps (episodes may end early)."""
    return lambda: int(sample_episodes(env, params, horizon=horizon, seed=SEED).masks.sum())


def gymnasium_sync(family, horizon):
    """SyncVectorEnv over gymnasium's own v5 envs, stepped H times with a batched policy of our shape."""
    with common.mujoco_warnings():  # gymnasium's HalfCheetah XML: MuJoCo 4's settotalmass warning
        envs = gym.vector.SyncVectorEnv([lambda: gym.make(GYMNASIUM[family.robot.xml])] * (TASKS * EPISODES))
    obs_dim, act_dim = envs.single_observation_space.shape[0], envs.single_action_space.shape[0]
    params = policies.stack([policies.init_policy(obs_dim, act_dim, seed=0)] * TASKS)
    params = {k: v.detach() for k, v in params.items()}
    sigma = torch.exp(params[policies.LOG_STD]).unsqueeze(1)
    generator = torch.Generator().manual_seed(0)
    state = {"obs": envs.reset(seed=0)[0]}

    @torch.no_grad()
    def rollout():
        for _ in range(horizon):
            s = torch.as_tensor(state["obs"], dtype=torch.float32).view(TASKS, EPISODES, obs_dim)
            actions = task_means(params, s) + sigma * torch.randn(TASKS, EPISODES, act_dim, generator=generator)
            state["obs"], *_ = envs.step(actions.view(-1, act_dim).numpy())
        return envs.num_envs * horizon

    return rollout, envs


def raw_mujoco(env, params, horizon):
    """mj_step alone over the env's MjData (their own task models), replaying the episodes of ``ours``."""
    batch = sample_episodes(env, params, horizon=horizon, seed=SEED)
    low, high = env.single_action_space.low, env.single_action_space.high
    controls = np.clip(batch.actions.numpy(), low, high).transpose(1, 0, 2)  # [T, N, act_dim]
    running = batch.masks.numpy().T.astype(bool)  # [T, N]
    models, datas, frame_skip = env._slot_models, env.datas, env.family.robot.frame_skip
    env.reset(seed=SEED)
    start = [(data.qpos.copy(), data.qvel.copy()) for data in datas]

    def rollout():
        for model, data, (qpos, qvel) in zip(models, datas, start):
            mujoco.mj_resetData(model, data)
            data.qpos, data.qvel = qpos, qvel
        with common.mujoco_warnings():
            for t in range(horizon):
                for model, data, control, live in zip(models, datas, controls[t], running[t]):
                    if live:
                        data.ctrl = control
                        mujoco.mj_step(model, data, frame_skip)
        return int(running.sum())

    return rollout


def main(names):
    seed_everything(0)
    print(f"env steps per second, {TASKS * EPISODES} slots ({TASKS} tasks x {EPISODES} episodes), fastest of "
          f"{ROUNDS} rounds, torch on 1 thread, {os.cpu_count()} cores")
    print(f"{'family':16s} {'a ours':>8s} {'b 2 workers':>11s} {'c gym Sync':>10s} {'d mj_step':>9s}"
          f" {'a/d':>5s} {'b/a':>5s} {'a/c':>5s} {'b/c':>5s}")
    folder = tempfile.TemporaryDirectory()  # gymnasium's envs may write MUJOCO_LOG.TXT into the current folder
    cwd = os.getcwd()
    for name in names:
        family = FAMILIES[name]
        tasks = family.sample_tasks(TASKS, np.random.default_rng(0))
        env = family.make_vec_env(tasks, EPISODES)
        obs_dim, act_dim = env.single_observation_space.shape[0], env.single_action_space.shape[0]
        params = policies.stack([policies.init_policy(obs_dim, act_dim, seed=0)] * TASKS)
        horizon = family.HORIZON
        with SamplerPool(name, workers=2) as pool:
            pooled = pool.make_vec_env(tasks, EPISODES)
            sample_episodes(pooled, params, horizon=horizon, seed=0)  # the workers import and build their envs
            os.chdir(folder.name)
            try:
                gym_rollout, gym_envs = gymnasium_sync(family, horizon)
                runs = {"a": ours(env, params, horizon), "b": ours(pooled, params, horizon), "c": gym_rollout,
                        "d": raw_mujoco(env, params, horizon)}
                rates = {key: 0.0 for key in runs}
                for _ in range(ROUNDS):
                    for key, run in runs.items():
                        rates[key] = max(rates[key], best_rate(run))
                gym_envs.close()
            finally:
                os.chdir(cwd)
        ratios = {key: rates[key[0]] / rates[key[2]] for key in GOALS}
        print(f"{name:16s} {rates['a']:8.0f} {rates['b']:11.0f} {rates['c']:10.0f} {rates['d']:9.0f} "
              + " ".join(f"{ratios[key]:5.2f}" for key in GOALS), flush=True)
    folder.cleanup()
    print("goals on HalfCheetah: " + ", ".join(f"{key} >= {goal}" for key, goal in GOALS.items()))


if __name__ == "__main__":  # the worker processes are spawned: they import this file without running main
    main(sys.argv[1:] or [name for name in RL_FAMILIES if name in FAMILIES])
