"""Collect episodes for many tasks at once: one VectorEnv, one batched policy forward per step.

The VectorEnv (e.g. ``metarl_lite.tasks.navigation.make_vec_env``) has autoreset disabled and its
N slots task-major: with per-task params for n tasks (each tensor [n, ...], see
``policies.stack``), slots [i N/n, (i + 1) N/n) run task i and act with task i's policy. Every
slot starts at ``reset``; each step feeds all N observations, reshaped [n, N/n, obs_dim], through
the n networks in one ``vmap`` call and draws a_t ~ pi_i(. | s_t). A slot stops at its first
termination or truncation; the batch is cut at ``horizon`` steps.
"""

from dataclasses import dataclass

import numpy as np
import torch

from . import policies


@dataclass
class Episodes:
    """A batch of E episodes padded to T steps; step t holds s_t, a_t ~ pi(. | s_t) and r_t.

    ``masks`` is 1 at the real steps and 0 after an episode ended (rows like 1 1 1 0 0); every
    other tensor is 0 at padded steps. ``log_probs`` are log pi(a_t | s_t) of the policy that
    sampled (detached). Episode e belongs to task ``task_ids[e]`` (task-major order).
    """

    obs: torch.Tensor  # [E, T, obs_dim]
    actions: torch.Tensor  # [E, T, act_dim]
    rewards: torch.Tensor  # [E, T]
    masks: torch.Tensor  # [E, T]
    log_probs: torch.Tensor  # [E, T]
    task_ids: torch.Tensor  # [E], long


def _dims(env, params) -> tuple:
    """(n_tasks, episodes per task, obs_dim, act_dim), checked against the env's spaces."""
    tasks = policies.n_tasks(params)
    if tasks is None:
        raise ValueError("sample_episodes needs per-task params [n_tasks, ...]; for one shared policy "
                         "pass policies.stack([params] * n_tasks)")
    obs_dim, act_dim = params["0.weight"].shape[-1], params[policies.LOG_STD].shape[-1]
    if env.num_envs % tasks:
        raise ValueError(f"the env has {env.num_envs} slots, not a multiple of the {tasks} tasks of the params")
    for what, space, size in (("observations", env.single_observation_space, obs_dim),
                              ("actions", env.single_action_space, act_dim)):
        if space.shape != (size,):
            raise ValueError(f"the env's {what} have shape {space.shape} but the policy's have ({size},)")
    return tasks, env.num_envs // tasks, obs_dim, act_dim


def _check_step(what: str, value, shape: tuple, running: np.ndarray, per_task: int, t: int) -> np.ndarray:
    """``value`` as an array of ``shape``, finite in every running slot; else an error naming the slot."""
    value = np.asarray(value)
    if value.shape != shape:
        raise ValueError(f"the env returned {what} of shape {value.shape} at step {t}, expected {shape}")
    bad = running & ~np.isfinite(value.reshape(shape[0], -1)).all(axis=1)
    if bad.any():
        slot = int(np.flatnonzero(bad)[0])
        raise ValueError(f"the env returned non-finite {what} at step {t} in slot {slot} (task {slot // per_task}): "
                         f"{value[slot].tolist()}")
    return value


@torch.no_grad()
def sample_episodes(env, params: dict, *, horizon: int, seed: int) -> Episodes:
    """Episodes of every slot of ``env`` under per-task ``params``, as [E = env.num_envs, T = horizon] tensors.

    Deterministic given ``seed``: it seeds ``env.reset`` and the torch.Generator of the action
    noise. Tensors take the dtype of ``params``; the actions sent to the env are the raw Gaussian
    samples (the env clips them), and those are the ones stored and scored.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    tasks, per_task, obs_dim, act_dim = _dims(env, params)
    n, dtype = env.num_envs, params[policies.LOG_STD].dtype
    generator = torch.Generator().manual_seed(seed)
    steps = []  # per step: (s_t [n, obs_dim], a_t [n, act_dim], log pi [n], r_t [n], running before step t [n])
    running = np.ones(n, dtype=bool)
    observation, _ = env.reset(seed=seed)
    for t in range(horizon):
        observation = _check_step("observations", observation, (n, obs_dim), running, per_task, t)
        s_t = torch.as_tensor(observation, dtype=dtype)
        a_t, log_pi = policies.sample(params, s_t.reshape(tasks, per_task, obs_dim), generator)
        a_t = a_t.reshape(n, act_dim)
        observation, reward, terminated, truncated, _ = env.step(a_t.numpy())
        reward = _check_step("rewards", reward, (n,), running, per_task, t)
        steps.append((s_t, a_t, log_pi.reshape(n), torch.as_tensor(reward, dtype=dtype), torch.as_tensor(running)))
        running = running & ~(np.asarray(terminated) | np.asarray(truncated))
        if not running.any():
            break

    def padded(column):  # one [n, ...] tensor per step taken -> [n, horizon, ...], zeros after the last
        out = torch.zeros(n, horizon, *column[0].shape[1:], dtype=column[0].dtype)
        out[:, : len(column)] = torch.stack(column, dim=1)
        return out

    obs, actions, log_probs, rewards, live = map(padded, zip(*steps))
    zero = torch.zeros((), dtype=dtype)
    obs, actions = (torch.where(live[..., None], x, zero) for x in (obs, actions))
    rewards, log_probs = (torch.where(live, x, zero) for x in (rewards, log_probs))
    task_ids = torch.arange(n) // per_task
    return Episodes(obs, actions, rewards, live.to(dtype), log_probs, task_ids)
