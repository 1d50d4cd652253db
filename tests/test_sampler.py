"""metarl_lite.rl.sampler: many tasks at once from a VectorEnv, each slot with its own task's policy."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import VectorWrapper

from metarl_lite.rl import policies
from metarl_lite.rl.sampler import sample_episodes
from metarl_lite.tasks import navigation as nav

HORIZON = nav.HORIZON


def homing_policy(target, log_std=-5.0):
    """A linear policy (no hidden layer) with mean mu(s) = (target - s) / 0.1, the normalized action that
    moves to ``target``: it walks there in clipped steps and then jitters around it with sigma = exp(log_std)."""
    params = policies.init_policy(2, 2, hidden=(), seed=0, log_std=log_std, dtype=torch.float64)
    with torch.no_grad():
        params["0.weight"].copy_(-torch.eye(2) / nav.MAX_SPEED)
        params["0.bias"].copy_(torch.tensor(target) / nav.MAX_SPEED)
    return params


def setup(episodes_per_task=3):
    """Three tasks; tasks 0 and 1 get policies that home in on their own goals (and terminate),
    task 2 a policy that homes in on a point far from its goal (and runs to the horizon)."""
    tasks = nav.sample_tasks(3, np.random.default_rng(0))
    targets = [tasks[0]["goal"], tasks[1]["goal"], [2.0, -2.0]]
    params = policies.stack([homing_policy(t) for t in targets])
    return tasks, nav.make_vec_env(tasks, episodes_per_task), params


def test_episodes_follow_each_tasks_own_policy_and_the_navigation_dynamics():
    tasks, env, params = setup()
    batch = sample_episodes(env, params, horizon=HORIZON, seed=0)
    assert batch.obs.shape == (9, HORIZON, 2) and batch.actions.shape == (9, HORIZON, 2)
    assert batch.rewards.shape == batch.masks.shape == batch.log_probs.shape == (9, HORIZON)
    assert batch.obs.dtype == batch.rewards.dtype == torch.float64
    assert batch.task_ids.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    lengths = batch.masks.sum(1).long()
    assert (batch.masks == (torch.arange(HORIZON) < lengths[:, None])).all()  # rows 1 ... 1 0 ... 0
    assert (lengths[:6] < 20).all() and (lengths[6:] == HORIZON).all()
    for e in range(9):
        goal = np.array(tasks[batch.task_ids[e]]["goal"])
        n = lengths[e].item()
        obs, actions = batch.obs[e, :n].numpy(), batch.actions[e, :n].numpy()
        positions = np.cumsum(0.1 * np.clip(actions, -1, 1), axis=0)  # s_{t+1}, from s_0 = 0
        np.testing.assert_allclose(obs, np.vstack([np.zeros(2), positions[:-1]]), atol=1e-6)
        np.testing.assert_allclose(batch.rewards[e, :n].numpy(), -np.linalg.norm(positions - goal, axis=1), atol=1e-6)
        reached = np.all(np.abs(positions - goal) < 0.01, axis=1)
        assert not reached[:-1].any() and reached[-1] == (e < 6)
    # log pi of the stored (unclipped) actions under each task's own params
    per_task = lambda x: x.reshape(3, 3, *x.shape[1:])  # noqa: E731
    recomputed = policies.log_prob(params, per_task(batch.obs), per_task(batch.actions)).reshape(9, HORIZON)
    torch.testing.assert_close(batch.log_probs, recomputed * batch.masks)
    # padded steps hold 0
    padded = batch.masks == 0
    assert padded.any() and not batch.obs[padded].any() and not batch.actions[padded].any()
    assert not batch.rewards[padded].any() and not batch.log_probs[padded].any()


def test_sampling_is_deterministic_given_the_seed():
    tasks = nav.sample_tasks(2, np.random.default_rng(1))
    params = policies.stack([policies.init_policy(2, 2, seed=0)] * 2)  # one shared policy, (64, 64) tanh
    first = sample_episodes(nav.make_vec_env(tasks, 4), params, horizon=HORIZON, seed=7)
    second = sample_episodes(nav.make_vec_env(tasks, 4), params, horizon=HORIZON, seed=7)
    other = sample_episodes(nav.make_vec_env(tasks, 4), params, horizon=HORIZON, seed=8)
    for name in ("obs", "actions", "rewards", "masks", "log_probs", "task_ids"):
        assert torch.equal(getattr(first, name), getattr(second, name)), name
    assert not torch.equal(first.actions, other.actions)
    assert first.obs.dtype == torch.float32
    assert len(set(first.actions[:, 0, 0].tolist())) == 8  # every slot draws its own noise


def test_a_shorter_horizon_cuts_the_episodes():
    _, env, params = setup()
    batch = sample_episodes(env, params, horizon=5, seed=0)
    full = sample_episodes(env, params, horizon=HORIZON, seed=0)
    assert batch.masks.shape == (9, 5) and batch.masks[6:].all()  # task 2 still runs at the cut
    for name in ("obs", "actions", "rewards", "masks", "log_probs"):
        assert torch.equal(getattr(batch, name), getattr(full, name)[:, :5]), name


class Corrupt(VectorWrapper):
    """Replaces, from step ``at`` on, the reward or the observation of one slot (or the observation shape)."""

    def __init__(self, env, what, slot, at=3):
        super().__init__(env)
        self.what, self.slot, self.at, self.t = what, slot, at, 0

    def reset(self, **kwargs):
        self.t = 0
        return self.env.reset(**kwargs)

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self.t += 1
        if self.t > self.at:
            if self.what == "reward":
                rewards = rewards.copy()
                rewards[self.slot] = np.nan
            elif self.what == "obs":
                obs = obs.copy()
                obs[self.slot, 1] = np.inf
            else:
                obs = obs[:, :1]
        return obs, rewards, terminated, truncated, info


def test_bad_env_output_gets_an_error_naming_slot_and_task():
    _, env, params = setup()
    with pytest.raises(ValueError, match=r"non-finite rewards at step 3 in slot 4 \(task 1\)") as info:
        sample_episodes(Corrupt(env, "reward", slot=4), params, horizon=HORIZON, seed=0)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"non-finite observations at step 4 in slot 7 \(task 2\)"):
        sample_episodes(Corrupt(env, "obs", slot=7), params, horizon=HORIZON, seed=0)
    with pytest.raises(ValueError, match=r"observations of shape \(9, 1\) at step 4, expected \(9, 2\)"):
        sample_episodes(Corrupt(env, "shape", slot=0), params, horizon=HORIZON, seed=0)
    # a NaN in a slot that already ended is padding, not an error
    ended = sample_episodes(Corrupt(env, "reward", slot=0, at=50), params, horizon=HORIZON, seed=0)
    assert ended.masks[0, 50:].sum() == 0


def test_mismatched_env_and_params_get_one_line_errors(one_line_errors):
    tasks, env, params = setup()
    wide = policies.stack([policies.init_policy(3, 2, seed=0)] * 3)
    env_3d = Corrupt(env, "none", slot=0)
    env_3d.single_action_space = spaces.Box(-1, 1, shape=(3,))
    cases = [
        (lambda: sample_episodes(env, wide, horizon=HORIZON, seed=0),
         r"the env's observations have shape \(2,\) but the policy's have \(3,\)"),
        (lambda: sample_episodes(env_3d, params, horizon=HORIZON, seed=0),
         r"the env's actions have shape \(3,\) but the policy's have \(2,\)"),
        (lambda: sample_episodes(nav.make_vec_env(tasks[:2], 2), params, horizon=HORIZON, seed=0),
         "4 slots, not a multiple of the 3 tasks"),
        (lambda: sample_episodes(env, homing_policy([0.0, 0.0]), horizon=HORIZON, seed=0), "per-task params"),
        (lambda: sample_episodes(env, params, horizon=0, seed=0), "horizon must be a positive integer"),
    ]
    one_line_errors(cases)
