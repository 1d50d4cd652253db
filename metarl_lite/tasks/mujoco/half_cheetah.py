"""HalfCheetahVel and HalfCheetahDir (Finn, Abbeel, Levine 2017, Sec. 5.3 and Fig. 5).

The planar cheetah of gymnasium's HalfCheetah-v5 (9 joints, 6 motors, frame_skip 5, dt = 0.05 s).
With x the root's forward position, v = (x_{t+1} - x_t) / dt its velocity over the step and a the
action clipped to the action space [-1, 1]^6:

    HalfCheetahVel, task {"velocity": v*}, v* ~ U[0, 2]:       r_t = -|v - v*| - 0.05 ||a||^2,
    HalfCheetahDir, task {"direction": d}, d in {-1, +1}:      r_t = d v - 0.05 ||a||^2.

Neither terminates early; H = 100 steps (5 s). The observation is gymnasium v5's: qpos without x
(8) and qvel (9), 17 numbers; the task is hidden, so a policy must infer it from the rewards.
"""

import numpy as np

from .common import MujocoFamily, Robot, check_count, check_keys, check_number

CHEETAH = Robot("half_cheetah.xml", frame_skip=5, reset_noise=0.1, camera={"body": 1, "distance": 4.0})
CTRL_COST = 0.05
VELOCITY_RANGE = (0.0, 2.0)  # v* ~ U[VELOCITY_RANGE]
HORIZON = 100


def forward_velocity(before, after, dt: float) -> np.ndarray:
    """v = (x_{t+1} - x_t) / dt of the root (qpos[0]), per slot [N]."""
    return (after.qpos[:, 0] - before.qpos[:, 0]) / dt


class HalfCheetahVel(MujocoFamily):
    """Run at a target velocity v* ~ U[0, 2]: r = -|v - v*| - 0.05 ||a||^2 (module docstring)."""

    name, ENV_ID, HORIZON, robot, skip_qpos = "halfcheetah-vel", "metarl_lite/HalfCheetahVel-v0", HORIZON, CHEETAH, 1

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list:
        """n tasks ``{"velocity": v*}``, v* ~ U[0, 2]."""
        return [{"velocity": float(v)} for v in rng.uniform(*VELOCITY_RANGE, size=check_count(n))]

    def check_task(self, task) -> dict:
        check_keys("HalfCheetahVel", task, {"velocity"}, "{'velocity': v} with v in [0, 2]")
        return {"velocity": check_number("task['velocity']", task["velocity"], *VELOCITY_RANGE)}

    def task_features(self, task) -> np.ndarray:
        """[v*]."""
        return np.array([self.check_task(task)["velocity"]])

    def rewards(self, before, after, actions, features, dt):
        v = forward_velocity(before, after, dt)
        reward = -np.abs(v - features[:, 0]) - CTRL_COST * np.square(actions).sum(1)
        return reward, np.ones(len(v), dtype=bool)


class HalfCheetahDir(MujocoFamily):
    """Run forward (d = +1) or backward (d = -1): r = d v - 0.05 ||a||^2 (module docstring)."""

    name, ENV_ID, HORIZON, robot, skip_qpos = "halfcheetah-dir", "metarl_lite/HalfCheetahDir-v0", HORIZON, CHEETAH, 1

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list:
        """n tasks ``{"direction": d}``, each d uniform on {-1, +1}, stratified: the n tasks are a random
        order of ceil(n/2) and floor(n/2) copies of the two directions (the odd one out a fair coin), so
        any batch, training or evaluation, has both directions equally often."""
        n = check_count(n)
        signs = np.resize([1, -1], n)
        if n % 2:
            signs[-1] = rng.choice([1, -1])
        return [{"direction": int(d)} for d in rng.permutation(signs)]

    def check_task(self, task) -> dict:
        check_keys("HalfCheetahDir", task, {"direction"}, "{'direction': d} with d = -1 or +1")
        d = task["direction"]
        if isinstance(d, bool) or d not in (-1, 1):
            raise ValueError(f"task['direction'] must be -1 or +1, got {d!r}")
        return {"direction": int(d)}

    def task_features(self, task) -> np.ndarray:
        """[d]."""
        return np.array([float(self.check_task(task)["direction"])])

    def rewards(self, before, after, actions, features, dt):
        v = forward_velocity(before, after, dt)
        return features[:, 0] * v - CTRL_COST * np.square(actions).sum(1), np.ones(len(v), dtype=bool)


VEL = HalfCheetahVel().register()
DIR = HalfCheetahDir().register()
