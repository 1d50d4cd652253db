"""AntDir and AntGoal (Rothfuss et al. 2019, ProMP; Ant-Dir also in Finn et al. 2017, Fig. 5).

The quadruped of gymnasium's Ant-v5 (a free torso, 8 hinge joints and motors, frame_skip 5, dt =
0.05 s, RK4). With xy the torso's position (qpos[0:2]), v = (xy_{t+1} - xy_t) / dt its planar
velocity over the step, a the action clipped to [-1, 1]^8 and c = ||clip(cfrc_ext, -1, 1)||^2 the
squared external contact forces of all bodies (``mj_rnePostConstraint`` runs after every step, so
they are the real contact forces):

    AntDir, task {"direction": [dx, dy]}, d uniform on the unit circle:
        r_t = d . v - 0.5 ||a||^2 - 0.0005 c + 1,
        terminated when the torso height z = qpos[2] leaves [0.2, 1.0] (or the state is not finite);
    AntGoal, task {"goal": [x, y]}, g uniform on the disc of radius 3:
        r_t = -||xy_{t+1} - g||_1 - 0.1 ||a||^2 - 0.0005 c,   never terminated early.

H = 200 steps (10 s) for both. The observation is gymnasium v5's: qpos without xy (13), qvel (14)
and the clipped cfrc_ext of the 13 bodies after the world (78), 105 numbers; AntGoal keeps the
torso's xy in it (107 numbers), so that a policy can tell where it is.
"""

import numpy as np

from .common import MujocoFamily, Robot, check_count, check_keys, check_vector, contact_cost

ANT = Robot("ant.xml", frame_skip=5, reset_noise=0.1, contact_forces=True, camera={"body": 1, "distance": 5.0,
                                                                                    "elevation": -35.0})
CONTACT_COST = 5e-4
HEALTHY_Z = (0.2, 1.0)  # AntDir ends when the torso height leaves this range
GOAL_RADIUS = 3.0
HORIZON = 200


class AntDir(MujocoFamily):
    """Walk in the direction d on the unit circle: r = d . v - 0.5 ||a||^2 - 0.0005 c + 1 (module docstring)."""

    name, ENV_ID, HORIZON, robot, skip_qpos = "ant-dir", "metarl_lite/AntDir-v0", HORIZON, ANT, 2
    CTRL_COST = 0.5
    SURVIVE = 1.0

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list:
        """n tasks ``{"direction": [cos u, sin u]}``, u ~ U[0, 2 pi)."""
        angles = rng.uniform(0.0, 2 * np.pi, size=check_count(n))
        return [{"direction": [float(np.cos(u)), float(np.sin(u))]} for u in angles]

    def check_task(self, task) -> dict:
        check_keys("AntDir", task, {"direction"}, "{'direction': [dx, dy]} with dx^2 + dy^2 = 1")
        direction = check_vector("task['direction']", task["direction"], 2)
        if abs(np.linalg.norm(direction) - 1.0) > 1e-6:
            raise ValueError(f"task['direction'] must be a unit vector, got {task['direction']!r} "
                             f"(norm {np.linalg.norm(direction):.6g})")
        return {"direction": direction.tolist()}

    def task_features(self, task) -> np.ndarray:
        """[dx, dy]."""
        return np.array(self.check_task(task)["direction"])

    def rewards(self, before, after, actions, features, dt):
        velocity = (after.qpos[:, :2] - before.qpos[:, :2]) / dt
        reward = ((features * velocity).sum(1) - self.CTRL_COST * np.square(actions).sum(1)
                  - CONTACT_COST * contact_cost(after.cfrc) + self.SURVIVE)
        z = after.qpos[:, 2]
        finite = np.isfinite(after.qpos).all(1) & np.isfinite(after.qvel).all(1)
        return reward, finite & (HEALTHY_Z[0] <= z) & (z <= HEALTHY_Z[1])


class AntGoal(MujocoFamily):
    """Walk to a goal g in the disc of radius 3: r = -||xy - g||_1 - 0.1 ||a||^2 - 0.0005 c (module docstring)."""

    name, ENV_ID, HORIZON, robot, skip_qpos = "ant-goal", "metarl_lite/AntGoal-v0", HORIZON, ANT, 0
    CTRL_COST = 0.1

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list:
        """n tasks ``{"goal": [r cos u, r sin u]}``, uniform on the disc: r = 3 sqrt(w), w ~ U[0, 1], u ~ U[0, 2 pi)."""
        n = check_count(n)
        radii, angles = GOAL_RADIUS * np.sqrt(rng.uniform(size=n)), rng.uniform(0.0, 2 * np.pi, size=n)
        return [{"goal": [float(r * np.cos(u)), float(r * np.sin(u))]} for r, u in zip(radii, angles)]

    def check_task(self, task) -> dict:
        check_keys("AntGoal", task, {"goal"}, "{'goal': [x, y]} with x^2 + y^2 <= 9")
        goal = check_vector("task['goal']", task["goal"], 2)
        if np.linalg.norm(goal) > GOAL_RADIUS + 1e-9:
            raise ValueError(f"task['goal'] must lie within {GOAL_RADIUS} of the origin, got {task['goal']!r}")
        return {"goal": goal.tolist()}

    def task_features(self, task) -> np.ndarray:
        """[x, y] of the goal."""
        return np.array(self.check_task(task)["goal"])

    def rewards(self, before, after, actions, features, dt):
        reward = (-np.abs(after.qpos[:, :2] - features).sum(1) - self.CTRL_COST * np.square(actions).sum(1)
                  - CONTACT_COST * contact_cost(after.cfrc))
        return reward, np.ones(len(reward), dtype=bool)


DIR = AntDir().register()
GOAL = AntGoal().register()
