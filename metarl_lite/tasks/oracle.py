"""The oracle's view of a task family: the observation with the task parameter appended.

The oracle baseline of Finn et al. 2017 is a policy that is told the task (the goal, the target
velocity, ...): it needs no adaptation, so its return bounds what a meta-learner can reach.
``OracleVecEnv`` wraps a task-major VectorEnv of any family and appends ``task_features(task)`` of
each slot's task to every observation, s~_t = [s_t, f(task)]; dynamics and rewards are unchanged.
"""

import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space


class OracleVecEnv(VectorEnv):
    """``env`` (slots task-major, ``env.tasks`` listed) whose observations also show the task."""

    def __init__(self, env, task_features):
        self.env = env
        self.tasks, self.episodes_per_task = env.tasks, env.num_envs // len(env.tasks)
        self.num_envs, self.metadata = env.num_envs, env.metadata
        inner = env.single_observation_space
        self._dtype = inner.dtype  # the family's own (float32 for nav2d, float64 for MuJoCo)
        features = np.stack([np.asarray(task_features(task), dtype=self._dtype).ravel() for task in env.tasks])
        self._features = np.repeat(features, self.episodes_per_task, axis=0)  # [N, F], task-major like the slots
        unbounded = np.full(features.shape[1], np.inf, dtype=self._dtype)
        self.single_observation_space = spaces.Box(np.concatenate([inner.low, -unbounded]),
                                                   np.concatenate([inner.high, unbounded]), dtype=self._dtype)
        self.single_action_space = env.single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = env.action_space

    def _observe(self, observation):
        return np.concatenate([np.asarray(observation, dtype=self._dtype), self._features], axis=1)

    def reset(self, *, seed=None, options=None):
        observation, info = self.env.reset(seed=seed, options=options)
        return self._observe(observation), info

    def step(self, actions):
        observation, *rest = self.env.step(actions)
        return (self._observe(observation), *rest)

    def close(self, **kwargs):
        self.env.close(**kwargs)


def make_vec_env(family, tasks, episodes_per_task: int, *, oracle: bool = False, first_slot: int = 0):
    """``family.make_vec_env(tasks, episodes_per_task)``, its slots numbered from ``first_slot`` of a
    larger batch (their seeds and error messages), wrapped in ``OracleVecEnv`` for the oracle."""
    env = family.make_vec_env(tasks, episodes_per_task)
    env.first_slot = first_slot
    return OracleVecEnv(env, family.task_features) if oracle else env
