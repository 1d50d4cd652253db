"""Walker2dRandParams and HopperRandParams (Rothfuss et al. 2019, ProMP's rand-param envs).

The robots of gymnasium's Walker2d-v5 and Hopper-v5 (planar, frame_skip 4, dt = 0.008 s, RK4). A task
changes the physics: every element of four model arrays is multiplied by its own random factor,

    body_mass x 1.5^u,  body_inertia x 1.5^u,  dof_damping x 1.3^u,  geom_friction x 1.5^u,  u ~ U(-3, 3),

written as the JSON-friendly dict ``{"body_mass": [...], "body_inertia": [[...]], "dof_damping": [...],
"geom_friction": [[...]]}`` of multipliers, shaped like the arrays (the world body and the floor
included, as in ProMP; the world's mass and inertia are 0, so theirs change nothing). A task's model is
a copy of the robot's whose arrays are set to default * multiplier, always from the pristine defaults
(the bindings return views, so multiplying the live arrays again would compound), followed by
``mj_setConst`` and the compiler's statistics (``common.refresh_constants``).

The objective is gymnasium v5's, with the survival bonus paid on every step taken: with x = qpos[0],

    r_t = (x_{t+1} - x_t) / dt + 1 - 0.001 ||a||^2,

a clipped to [-1, 1]^d, and the episode terminates as soon as the robot is unhealthy (v5's conditions
on the new state: Walker2d needs 0.8 < z < 2 and |angle| < 1; Hopper needs 0.7 < z, |angle| < 0.2 and
every entry of (qpos, qvel) after the first two within (-100, 100)). H = 200 steps (1.6 s). The
observation is v5's: qpos without x and qvel clipped to [-10, 10] (Walker2d 17, Hopper 11 numbers).
"""

import numpy as np

from .common import MujocoFamily, Robot, check_count, check_keys, refresh_constants

# name of the model array -> base b of its multipliers b^u
BASES = {"body_mass": 1.5, "body_inertia": 1.5, "dof_damping": 1.3, "geom_friction": 1.5}
LOG_SCALE_RANGE = 3.0  # u ~ U(-3, 3)
CTRL_COST = 1e-3
SURVIVE = 1.0
HORIZON = 200
CAMERA = {"body": 1, "distance": 4.0, "elevation": -20.0}
WALKER = Robot("walker2d_v5.xml", frame_skip=4, reset_noise=5e-3, uniform_qvel=True, clip_qvel=10.0, camera=CAMERA)
HOPPER = Robot("hopper.xml", frame_skip=4, reset_noise=5e-3, uniform_qvel=True, clip_qvel=10.0, camera=CAMERA)


def walker_healthy(qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """Walker2d-v5: 0.8 < z < 2 and -1 < angle < 1, with (z, angle) = qpos[1:3]; [N] bool."""
    z, angle = qpos[:, 1], qpos[:, 2]
    return (0.8 < z) & (z < 2.0) & (-1.0 < angle) & (angle < 1.0)


def hopper_healthy(qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """Hopper-v5: 0.7 < z, -0.2 < angle < 0.2 and |(qpos, qvel)[2:]| < 100 elementwise; [N] bool."""
    z, angle = qpos[:, 1], qpos[:, 2]
    state = np.concatenate([qpos, qvel], axis=1)[:, 2:]
    return (0.7 < z) & (-0.2 < angle) & (angle < 0.2) & (np.abs(state) < 100.0).all(1)


class RandomParams(MujocoFamily):
    """Random physical parameters on one robot; forward progress rewarded (module docstring)."""

    skip_qpos = 1
    HORIZON = HORIZON

    def __init__(self, name: str, env_id: str, robot: Robot, healthy, title: str):
        self.name, self.ENV_ID, self.robot, self.healthy, self.title = name, env_id, robot, healthy, title

    def shapes(self) -> dict:
        """{array name: its shape in the robot's model}."""
        return {name: getattr(self.robot.model, name).shape for name in BASES}

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list:
        """n tasks of multipliers b^u, one u ~ U(-3, 3) per element of each array."""
        shapes = self.shapes()
        return [{name: (BASES[name] ** rng.uniform(-LOG_SCALE_RANGE, LOG_SCALE_RANGE, size=shape)).tolist()
                 for name, shape in shapes.items()} for _ in range(check_count(n))]

    def multipliers(self, task) -> dict:
        """{array name: float64 multipliers}, checked: the right keys and shapes, each in [b^-3, b^3]."""
        check_keys(self.title, task, set(BASES), "of multipliers {'body_mass', 'body_inertia', 'dof_damping', "
                                                 "'geom_friction'} (see sample_tasks)")
        out = {}
        for name, shape in self.shapes().items():
            try:
                value = np.asarray(task[name], dtype=np.float64)
            except (TypeError, ValueError):
                value = None
            if value is None or value.shape != shape:
                got = "non-numbers" if value is None else f"shape {value.shape}"
                raise ValueError(f"task[{name!r}] must be {shape} multipliers, got {got}")
            base, bound = BASES[name], LOG_SCALE_RANGE
            with np.errstate(divide="ignore", invalid="ignore"):
                exponent = np.log(value) / np.log(base)
            bad = ~(np.abs(exponent) <= bound + 1e-9)  # also catches 0, negatives and NaN
            if bad.any():
                raise ValueError(f"task[{name!r}] multipliers must lie in [{base}^-{bound:g}, {base}^{bound:g}] = "
                                 f"[{base ** -bound:.4g}, {base ** bound:.4g}], got {float(value[bad].flat[0])!r}")
            out[name] = value
        return out

    def check_task(self, task) -> dict:
        return {name: value.tolist() for name, value in self.multipliers(task).items()}

    def task_features(self, task) -> np.ndarray:
        """The natural logs of all multipliers, flattened in the order of ``BASES``."""
        return np.concatenate([np.log(value).ravel() for value in self.multipliers(task).values()])

    def model_for(self, task):
        """A copy of the robot's model with every array = pristine default * multiplier, constants refreshed."""
        defaults = self.robot.model
        model = super().model_for(task)
        for name, multiplier in self.multipliers(task).items():
            getattr(model, name)[:] = getattr(defaults, name) * multiplier
        refresh_constants(model)
        return model

    def rewards(self, before, after, actions, features, dt):
        velocity = (after.qpos[:, 0] - before.qpos[:, 0]) / dt
        reward = velocity + SURVIVE - CTRL_COST * np.square(actions).sum(1)
        return reward, self.healthy(after.qpos, after.qvel)


WALKER_PARAMS = RandomParams("walker2d-params", "metarl_lite/Walker2dRandParams-v0", WALKER, walker_healthy,
                             "Walker2dRandParams").register()
HOPPER_PARAMS = RandomParams("hopper-params", "metarl_lite/HopperRandParams-v0", HOPPER, hopper_healthy,
                             "HopperRandParams").register()
