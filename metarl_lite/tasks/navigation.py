"""2D navigation (Finn, Abbeel, Levine 2017, Sec. 5.2 and Fig. 4): a point walks to a hidden goal.

The agent sits at s in R^2, starting at s_0 = (0, 0). A task is a goal g ~ U[-0.5, 0.5]^2, written
as the JSON-friendly dict ``{"goal": [x, y]}``. Each step the action a in R^2, a velocity command
in normalized units, is clipped to [-1, 1] per coordinate and moves the point by at most 0.1,

    s_{t+1} = s_t + 0.1 clip(a_t, -1, 1),        r_t = -||s_{t+1} - g||_2,

and the episode terminates once |s_{t+1} - g| < 0.01 in both coordinates; otherwise it is cut at the
horizon H = 100. The observation is the position s alone: the goal is never shown, so a policy
has to find it from the rewards, which is what a meta-learned initialization makes fast.

Two ways to run it, with one set of dynamics (``move``):
- ``gymnasium.make("metarl_lite/Navigation2D-v0", task={"goal": [x, y]})``: one episode at a time
  (registered when this module is imported; the TimeLimit wrapper cuts at H);
- ``make_vec_env(tasks, episodes_per_task)``: a native NumPy ``gymnasium.vector.VectorEnv`` that
  runs every episode of every task in lockstep, the layout the sampler wants.
"""

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .actions import check_actions

ENV_ID = "metarl_lite/Navigation2D-v0"
HORIZON = 100
MAX_SPEED = 0.1  # a step moves at most MAX_SPEED per coordinate: velocity MAX_SPEED * clip(a, -1, 1)
GOAL_TOLERANCE = 0.01  # done when |s - g| < GOAL_TOLERANCE in both coordinates
GOAL_RANGE = (-0.5, 0.5)  # goals ~ U[GOAL_RANGE]^2


def single_spaces() -> tuple:
    """Fresh (observation, action) spaces of one episode (fresh: each seeds its own RNG).
    H steps of at most 0.1 keep every coordinate of s within [-10, 10]. Actions are normalized to
    [-1, 1], as in the paper's experiments (rllab's ``normalize`` wrapper scaled them to the
    velocity range [-0.1, 0.1]): a Gaussian policy's noise is then measured against the full range."""
    bound = HORIZON * MAX_SPEED
    return (spaces.Box(-bound, bound, shape=(2,), dtype=np.float32),
            spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32))


def sample_tasks(n: int, rng: np.random.Generator) -> list:
    """n tasks ``{"goal": [x, y]}`` with x, y ~ U[-0.5, 0.5], drawn from ``rng``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n (number of tasks) must be a positive integer, got {n!r}")
    return [{"goal": [float(x), float(y)]} for x, y in rng.uniform(*GOAL_RANGE, size=(n, 2))]


def check_task(task) -> np.ndarray:
    """The goal of a task ``{"goal": [x, y]}`` as a float64 array [2]; a one-line error otherwise."""
    if not isinstance(task, dict) or set(task) != {"goal"}:
        keys = sorted(task) if isinstance(task, dict) else type(task).__name__
        raise ValueError(f"a Navigation2D task is a dict {{'goal': [x, y]}}; got {keys}")
    try:
        goal = np.asarray(task["goal"], dtype=np.float64)
    except (TypeError, ValueError):
        goal = None
    if goal is None or goal.shape != (2,) or not np.isfinite(goal).all():
        raise ValueError(f"task['goal'] must be two finite numbers [x, y], got {task['goal']!r}")
    return goal


def task_features(task) -> np.ndarray:
    """What an oracle policy is told about the task: the goal [x, y]."""
    return check_task(task)


def velocity(actions):
    """The displacement 0.1 clip(a, -1, 1) of actions [..., 2] (NumPy arrays or torch tensors)."""
    return MAX_SPEED * actions.clip(-1.0, 1.0)


def move(position: np.ndarray, goal: np.ndarray, action: np.ndarray):
    """One step for any leading shape [..., 2]: s' = s + 0.1 clip(a, -1, 1), r = -||s' - g||,
    done = |s' - g| < 0.01 in both coordinates. Returns (s', r [...], done [...])."""
    position = position + velocity(action)
    offset = position - goal
    return position, -np.linalg.norm(offset, axis=-1), np.all(np.abs(offset) < GOAL_TOLERANCE, axis=-1)


class Navigation2DEnv(gymnasium.Env):
    """One point, one goal; make it with ``gymnasium.make(ENV_ID, task=...)`` to get the H = 100 limit.

    ``task`` defaults to the first task that ``sample_tasks`` draws with seed 0. The start state is
    fixed, so ``reset(seed=...)`` only seeds ``np_random``. ``set_task`` takes effect at once.
    """

    metadata = {"render_modes": []}

    def __init__(self, task=None):
        self.observation_space, self.action_space = single_spaces()
        self.set_task(sample_tasks(1, np.random.default_rng(0))[0] if task is None else task)
        self._position = np.zeros(2)

    @property
    def task(self) -> dict:
        """The current task, a fresh dict ``{"goal": [x, y]}``."""
        return {"goal": self._goal.tolist()}

    def set_task(self, task) -> None:
        """Switch to ``task`` ``{"goal": [x, y]}`` (checked); the position is kept until ``reset``."""
        self._goal = check_task(task)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._position = np.zeros(2)
        return self._position.astype(np.float32), {}

    def step(self, action):
        action = check_actions(action, self.action_space.shape)
        self._position, reward, done = move(self._position, self._goal, action)
        return self._position.astype(np.float32), float(reward), bool(done), False, {}


class NavigationVecEnv(VectorEnv):
    """``len(tasks) * episodes_per_task`` navigation episodes stepped together as arrays.

    Slots are task-major: slot i runs task ``task_ids[i] = i // episodes_per_task``. Autoreset is
    disabled: ``reset`` restarts every slot at (0, 0); each step returns rewards [N], and
    ``terminations`` [N] stay True once a slot reached its goal (its position then stays put and its
    reward is 0); every slot is truncated at step H, after which ``step`` asks for ``reset``.
    """

    metadata = {"autoreset_mode": AutoresetMode.DISABLED}

    def __init__(self, tasks, episodes_per_task: int):
        tasks = list(tasks)
        if not tasks:
            raise ValueError("tasks is empty; pass at least one task {'goal': [x, y]}")
        if isinstance(episodes_per_task, bool) or not isinstance(episodes_per_task, int) or episodes_per_task < 1:
            raise ValueError(f"episodes_per_task must be a positive integer, got {episodes_per_task!r}")
        goals = np.stack([check_task(task) for task in tasks])  # [tasks, 2]
        self.tasks = [{"goal": goal.tolist()} for goal in goals]
        self.episodes_per_task = episodes_per_task
        self.horizon = HORIZON
        self.num_envs = len(tasks) * episodes_per_task
        self.task_ids = np.repeat(np.arange(len(tasks)), episodes_per_task)  # [N]
        self._goals = goals[self.task_ids]  # [N, 2]
        self.single_observation_space, self.single_action_space = single_spaces()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._steps = None  # None until the first reset

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._positions = np.zeros((self.num_envs, 2))
        self._terminated = np.zeros(self.num_envs, dtype=bool)
        self._steps = 0
        return self._positions.astype(np.float32), {}

    def step(self, actions):
        if self._steps is None or self._steps >= self.horizon:
            raise RuntimeError(f"call reset() before step (every episode ends after H = {self.horizon} steps)")
        actions = check_actions(actions, (self.num_envs, 2))
        positions, rewards, done = move(self._positions, self._goals, actions)
        running = ~self._terminated
        self._positions = np.where(running[:, None], positions, self._positions)
        rewards = np.where(running, rewards, 0.0)
        self._terminated |= done
        self._steps += 1
        truncated = np.full(self.num_envs, self._steps >= self.horizon)
        return self._positions.astype(np.float32), rewards, self._terminated.copy(), truncated, {}


def make_vec_env(tasks, episodes_per_task: int) -> NavigationVecEnv:
    """A VectorEnv with ``episodes_per_task`` slots per task, task-major (see ``NavigationVecEnv``)."""
    return NavigationVecEnv(tasks, episodes_per_task)


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point=f"{__name__}:Navigation2DEnv", max_episode_steps=HORIZON)
