"""Task distributions: each has ``sample_tasks(n, rng)``; a regression task has ``sample(k, rng)``.

An RL task family (an entry of ``RL_FAMILIES``, keyed by the CLI's ``--task``) provides
``ENV_ID`` (its registered single env), ``HORIZON`` (H), ``sample_tasks(n, rng)`` (JSON-friendly task
dicts), ``make_vec_env(tasks, episodes_per_task)`` (a task-major VectorEnv with autoreset disabled
that lists its tasks in ``env.tasks``) and ``task_features(task)`` (the float vector an oracle
policy observes). nav2d is the module ``navigation``; the MuJoCo families are objects from
``metarl_lite.tasks.mujoco``.
"""

from . import navigation  # registers metarl_lite/Navigation2D-v0 with gymnasium
from .ambiguous import Ambiguous
from .linear import LinearRegression
from .mujoco import FAMILIES as MUJOCO_FAMILIES  # registers the MuJoCo envs
from .sinusoid import Sinusoid

RL_FAMILIES = {"nav2d": navigation, **MUJOCO_FAMILIES}

__all__ = ["Sinusoid", "LinearRegression", "Ambiguous", "navigation", "RL_FAMILIES"]
