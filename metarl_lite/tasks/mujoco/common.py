"""What every MuJoCo task family shares: models, warnings, a native VectorEnv and a single env.

A family (``half_cheetah.VEL``, ``ant.GOAL``, ...) is a distribution over tasks on one robot. It
runs on gymnasium's v5 model of the robot with that model's own frame_skip, so one environment step
lasts dt = timestep * frame_skip seconds and every velocity is a finite difference over it,
v = (x_{t+1} - x_t) / dt. A family provides, as ``metarl_lite.tasks.RL_FAMILIES`` requires:

- ``ENV_ID`` and ``HORIZON`` (H): the registered single env and the episode length;
- ``sample_tasks(n, rng)``: n JSON-friendly task dicts;
- ``make_vec_env(tasks, episodes_per_task)``: a ``MujocoVecEnv``, every episode of every task in
  lockstep (one MjModel per task, one MjData per slot, observations, rewards and terminations
  computed for all slots with NumPy at once);
- ``task_features(task)``: the float vector an oracle policy observes.

Two things MuJoCo 4 would otherwise say on the console (and append to MUJOCO_LOG.TXT in the current
folder) are handled here: the deprecated ``settotalmass`` of gymnasium's HalfCheetah XML (fixed at the
cause, see ``base_model``) and a diverging simulation, which MuJoCo resets silently apart from that
warning; here it raises ``SimulationDiverged`` naming the slot and the task.
"""

import contextlib
import copy
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import NamedTuple

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..actions import check_actions

ASSETS = Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets"  # gymnasium's v5 XML files
FAMILIES = {}  # CLI name -> family, filled as the family modules are imported
# MuJoCo resets a simulation whose positions, velocities or accelerations blow up (NaN, Inf or > 1e10).
DIVERGED = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL, mujoco.mjtWarning.mjWARN_BADQACC)


class SimulationDiverged(RuntimeError):
    """A slot's simulation blew up and MuJoCo reset it: the episodes of this batch are invalid."""


@contextlib.contextmanager
def mujoco_warnings():
    """Collect MuJoCo's warnings in a list instead of letting them reach stderr and MUJOCO_LOG.TXT.

    Routes ``mju_user_warning`` to the list for the duration of the block and restores the previous
    handler after it (so gymnasium's own environments behave as usual elsewhere).
    """
    messages = []
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(messages.append)
    try:
        yield messages
    finally:
        mujoco.set_mju_user_warning(previous)


def refresh_constants(model: mujoco.MjModel) -> None:
    """Recompute what the compiler derives from masses and inertias after they were changed.

    ``mj_setConst`` recomputes the constants at qpos0 (subtree masses, inverse weights, ...). The
    compiler's statistics it leaves alone, so set them as the compiler does: ``stat.meanmass`` is
    the mean mass of the bodies and ``stat.meaninertia``, which scales the constraint solver's
    tolerance, the mean diagonal of the joint-space inertia matrix M(qpos0).
    """
    data = mujoco.MjData(model)
    mujoco.mj_setConst(model, data)
    mujoco.mj_forward(model, data)
    inertia = np.zeros((model.nv, model.nv))
    if hasattr(data, "qM"):  # MuJoCo 3
        mujoco.mj_fullM(model, inertia, data.qM)
    else:  # MuJoCo 4
        mujoco.mj_fullM(model, data, inertia)
    model.stat.meaninertia = np.diag(inertia).mean()
    model.stat.meanmass = model.body_mass[1:].mean()


@cache
def base_model(xml: str) -> mujoco.MjModel:
    """gymnasium's v5 model ``xml``, compiled as gymnasium compiles it but without MuJoCo 4's warning.

    HalfCheetah's XML says ``<compiler settotalmass="14">``, which MuJoCo 4 deprecates (with a warning
    on stderr and in MUJOCO_LOG.TXT). Deleting the attribute would change the robot (total mass
    14 -> 21.18). Instead: parse with ``MjSpec``, switch the compiler's rescaling off
    (``settotalmass = -1``), compile, and rescale the compiled model with ``mj_setTotalmass`` as the
    compiler did, then ``refresh_constants``: masses and inertias equal gymnasium's bit for bit.
    Never modify the returned (cached) model: ``copy.copy`` it.
    """
    spec = mujoco.MjSpec.from_file(str(ASSETS / xml))
    total_mass = spec.compiler.settotalmass
    spec.compiler.settotalmass = -1
    with mujoco_warnings() as messages:
        model = spec.compile()
        if total_mass > 0:
            mujoco.mj_setTotalmass(model, total_mass)
        refresh_constants(model)
    if messages:
        warnings.warn(f"MuJoCo, compiling {xml}: {' | '.join(messages)}", RuntimeWarning, stacklevel=2)
    return model


@dataclass(frozen=True)
class Robot:
    """A gymnasium v5 MuJoCo model and its v5 defaults: steps, reset noise, observation, camera.

    Reset: qpos = qpos0 + U(-s, s) and qvel = s N(0, 1) (or U(-s, s) with ``uniform_qvel``), s =
    ``reset_noise``. Observation: qpos without its first ``skip_qpos`` coordinates (the family
    decides), qvel (clipped to +-``clip_qvel`` if set) and, with ``contact_forces``, the external
    contact forces cfrc_ext of every body but the world clipped to [-1, 1] (their squares also enter
    the contact cost, and ``mj_rnePostConstraint`` is called after every step so they are real).
    """

    xml: str
    frame_skip: int
    reset_noise: float
    uniform_qvel: bool = False
    clip_qvel: float | None = None
    contact_forces: bool = False
    camera: dict = field(default_factory=dict)  # tracking camera: body, distance, elevation

    @property
    def model(self) -> mujoco.MjModel:
        """The shared, pristine compiled model (``base_model``); copy before modifying."""
        return base_model(self.xml)

    @property
    def dt(self) -> float:
        """Seconds per environment step: timestep * frame_skip."""
        return self.model.opt.timestep * self.frame_skip


class State(NamedTuple):
    """The simulation of N slots as arrays: qpos [N, nq], qvel [N, nv], cfrc_ext [N, nbody, 6] or None."""

    qpos: np.ndarray
    qvel: np.ndarray
    cfrc: np.ndarray | None


def check_number(name: str, value, low: float, high: float) -> float:
    """``value`` as a float in [low, high]; a one-line error otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def check_vector(name: str, value, size: int) -> np.ndarray:
    """``value`` as a finite float64 array [size]; a one-line error otherwise."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.shape != (size,) or not np.isfinite(array).all():
        raise ValueError(f"{name} must be {size} finite numbers, got {value!r}")
    return array


def check_keys(family: str, task, keys: set, form: str) -> None:
    """A one-line error unless ``task`` is a dict with exactly ``keys``."""
    if not isinstance(task, dict) or set(task) != keys:
        found = sorted(task) if isinstance(task, dict) else type(task).__name__
        raise ValueError(f"a {family} task is a dict {form}; got {found}")


def check_count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n (number of tasks) must be a positive integer, got {n!r}")
    return int(n)


class MujocoFamily:
    """A task distribution on one ``Robot``; subclasses define tasks, rewards and terminations.

    Subclasses set ``name`` (the CLI's ``--task``), ``ENV_ID``, ``HORIZON``, ``robot`` and
    ``skip_qpos`` (leading qpos coordinates the observation leaves out), and implement
    ``sample_tasks``, ``check_task`` (a canonical copy of a task, or a one-line ValueError),
    ``task_features`` and ``rewards``. ``model_for(task)`` gives a task its own model (a copy of the
    robot's by default; the random-parameter families change it).
    """

    name: str
    ENV_ID: str
    HORIZON: int
    robot: Robot
    skip_qpos: int

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list:
        raise NotImplementedError

    def check_task(self, task) -> dict:
        raise NotImplementedError

    def task_features(self, task) -> np.ndarray:
        raise NotImplementedError

    def rewards(self, before: State, after: State, actions: np.ndarray, features: np.ndarray, dt: float):
        """(r_t [N], healthy [N] bool) of one step from ``before`` to ``after`` under ``actions`` [N,
        act_dim] (already clipped to the action space), for slots whose tasks have ``features`` [N, f].
        An unhealthy slot terminates."""
        raise NotImplementedError

    def model_for(self, task) -> mujoco.MjModel:
        """The MjModel of ``task`` (checked): a fresh copy of the robot's model."""
        self.check_task(task)
        return copy.copy(self.robot.model)

    @property
    def dt(self) -> float:
        """Seconds per environment step (the robot's timestep * frame_skip)."""
        return self.robot.dt

    def default_task(self) -> dict:
        """The task of ``gymnasium.make(ENV_ID)`` without ``task=``: the first one drawn with seed 0."""
        return self.sample_tasks(1, np.random.default_rng(0))[0]

    def observe(self, state: State) -> np.ndarray:
        """Observations [N, obs_dim] (float64) of ``state``, as ``Robot`` describes."""
        qvel = state.qvel if self.robot.clip_qvel is None else np.clip(state.qvel, -self.robot.clip_qvel,
                                                                        self.robot.clip_qvel)
        parts = [state.qpos[:, self.skip_qpos:], qvel]
        if self.robot.contact_forces:
            parts.append(np.clip(state.cfrc[:, 1:], -1.0, 1.0).reshape(len(qvel), -1))
        return np.concatenate(parts, axis=1)

    def make_vec_env(self, tasks, episodes_per_task: int) -> "MujocoVecEnv":
        """A VectorEnv with ``episodes_per_task`` slots per task, task-major (see ``MujocoVecEnv``)."""
        return MujocoVecEnv(self, tasks, episodes_per_task, horizon=self.HORIZON)

    def register(self) -> "MujocoFamily":
        """Add the family to ``FAMILIES`` and its single env ``ENV_ID`` to gymnasium's registry."""
        FAMILIES[self.name] = self
        if self.ENV_ID not in gymnasium.registry:
            gymnasium.register(id=self.ENV_ID, entry_point=f"{__name__}:MujocoTaskEnv", kwargs={"family": self.name},
                               max_episode_steps=self.HORIZON)
        return self

    def __repr__(self) -> str:
        return f"<task family {self.name!r} ({self.ENV_ID}, H = {self.HORIZON})>"


def contact_cost(cfrc: np.ndarray) -> np.ndarray:
    """||clip(cfrc_ext, -1, 1)||^2 over all bodies, per slot: [N, nbody, 6] -> [N]."""
    return np.square(np.clip(cfrc, -1.0, 1.0)).sum(axis=(1, 2))


class MujocoVecEnv(VectorEnv):
    """``len(tasks) * episodes_per_task`` episodes of one family, stepped together.

    Slots are task-major: slot i runs task ``task_ids[i] = i // episodes_per_task`` on that task's
    MjModel (``models[task_ids[i]]``) with its own MjData (``datas[i]``). Autoreset is disabled:
    ``reset`` restarts every slot; ``step(actions [N, act_dim])`` clips the actions to the action
    space (the rewards see the clipped actions), advances every running slot by frame_skip physics
    steps and returns observations [N, obs_dim], rewards [N], terminations [N] (True from the step a
    slot became unhealthy on: it is no longer simulated, keeps its last observation and earns 0) and
    truncations [N] (all True at step ``horizon``, after which ``step`` asks for ``reset``).

    ``reset(seed=s)`` draws slot i's initial state from ``np.random.default_rng([s, first_slot + i])``,
    so a slot's episode does not depend on the other slots: an env built for a share of the tasks
    with ``first_slot`` set to the index of its first slot in the full batch (as the sampler's
    worker processes do) reproduces those slots exactly, and its errors name global slots and tasks.
    """

    metadata = {"autoreset_mode": AutoresetMode.DISABLED}

    def __init__(self, family: MujocoFamily, tasks, episodes_per_task: int, *, horizon: int | None):
        tasks = list(tasks)
        if not tasks:
            raise ValueError(f"tasks is empty; pass at least one {family.name} task (see sample_tasks)")
        if isinstance(episodes_per_task, bool) or not isinstance(episodes_per_task, int) or episodes_per_task < 1:
            raise ValueError(f"episodes_per_task must be a positive integer, got {episodes_per_task!r}")
        self.family = family
        self.tasks = [family.check_task(task) for task in tasks]
        self.episodes_per_task = episodes_per_task
        self.horizon = horizon
        self.first_slot = 0
        self.num_envs = len(tasks) * episodes_per_task
        self.task_ids = np.repeat(np.arange(len(tasks)), episodes_per_task)  # [N]
        self.models = [family.model_for(task) for task in self.tasks]
        self.datas = [mujoco.MjData(self.models[k]) for k in self.task_ids]
        self._slot_models = [self.models[k] for k in self.task_ids]
        self._features = np.stack([family.task_features(task) for task in self.tasks])[self.task_ids]  # [N, f]
        robot = family.robot
        self.dt = robot.dt
        model = self.models[0]
        low, high = model.actuator_ctrlrange.T.astype(np.float32)
        self.single_action_space = spaces.Box(low, high, dtype=np.float32)
        self._low, self._high = low.astype(np.float64), high.astype(np.float64)
        self._state = self._read_state()
        obs_dim = family.observe(self._state).shape[1]
        self.single_observation_space = spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float64)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._steps = None  # None until the first reset

    def _read_state(self) -> State:
        qpos = np.stack([d.qpos for d in self.datas])
        qvel = np.stack([d.qvel for d in self.datas])
        cfrc = np.stack([d.cfrc_ext for d in self.datas]) if self.family.robot.contact_forces else None
        return State(qpos, qvel, cfrc)

    def _describe(self, slot: int) -> str:
        task = int(self.task_ids[slot])
        text = repr(self.tasks[task])
        if len(text) > 80:  # the multipliers of a random-parameter task: name the arrays only
            text = "{" + ", ".join(f"{key!r}: ..." for key in self.tasks[task]) + "}"
        return f"slot {self.first_slot + slot} (task {self.first_slot // self.episodes_per_task + task}: {text})"

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(2**63 - 1))
        return self.reset_slots([np.random.default_rng([seed, self.first_slot + i]) for i in range(self.num_envs)])

    def reset_slots(self, rngs) -> tuple:
        """Restart slot i from qpos0, qvel0 plus noise drawn from ``rngs[i]`` (see ``Robot``)."""
        robot = self.family.robot
        s = robot.reset_noise
        for model, data, rng in zip(self._slot_models, self.datas, rngs):
            mujoco.mj_resetData(model, data)
            data.qpos[:] = model.qpos0 + rng.uniform(-s, s, model.nq)
            data.qvel[:] = rng.uniform(-s, s, model.nv) if robot.uniform_qvel else s * rng.standard_normal(model.nv)
            mujoco.mj_forward(model, data)
            if robot.contact_forces:
                mujoco.mj_rnePostConstraint(model, data)
        self._state = self._read_state()
        self._running = np.ones(self.num_envs, dtype=bool)
        self._steps = 0
        return self.family.observe(self._state), {}

    def step(self, actions):
        if self._steps is None or (self.horizon is not None and self._steps >= self.horizon):
            raise RuntimeError(f"call reset() before step (every episode ends after H = {self.horizon} steps)")
        actions = check_actions(actions, (self.num_envs, self._low.size), self.first_slot)
        actions = np.clip(actions, self._low, self._high)
        before, robot = self._state, self.family.robot
        qpos, qvel = before.qpos.copy(), before.qvel.copy()
        cfrc = before.cfrc.copy() if robot.contact_forces else None
        frame_skip, contact = robot.frame_skip, robot.contact_forces
        slots = range(self.num_envs) if self._running.all() else np.flatnonzero(self._running)
        with mujoco_warnings() as messages:
            for i in slots:
                model, data = self._slot_models[i], self.datas[i]
                data.ctrl = actions[i]
                mujoco.mj_step(model, data, frame_skip)
                if contact:
                    mujoco.mj_rnePostConstraint(model, data)
                    cfrc[i] = data.cfrc_ext
                qpos[i], qvel[i] = data.qpos, data.qvel
                if messages:
                    self._warned(i, messages)
        self._state = after = State(qpos, qvel, cfrc)
        rewards, healthy = self.family.rewards(before, after, actions, self._features, self.dt)
        rewards = np.where(self._running, rewards, 0.0)
        self._running &= healthy
        self._steps += 1
        truncated = np.full(self.num_envs, self.horizon is not None and self._steps >= self.horizon)
        return self.family.observe(after), rewards, ~self._running, truncated, {}

    def _warned(self, slot: int, messages: list) -> None:
        """Raise ``SimulationDiverged`` if slot's simulation was reset, else pass MuJoCo's words on as a warning."""
        data, text = self.datas[slot], " | ".join(messages)
        messages.clear()
        if any(data.warning[w].number for w in DIVERGED):
            message = (f"the simulation of {self._describe(slot)} diverged at step {self._steps}: MuJoCo says "
                       f"{text!r} and reset it; check the task's parameters and the actions")
            self._steps = None  # the batch is invalid: reset before stepping again
            raise SimulationDiverged(message)
        warnings.warn(f"MuJoCo, {self._describe(slot)}: {text}", RuntimeWarning, stacklevel=3)


class MujocoTaskEnv(gymnasium.Env):
    """One episode of one task of a family: ``gymnasium.make(ENV_ID, task=...)`` (H from the registry).

    A one-slot ``MujocoVecEnv`` underneath, so dynamics, rewards and terminations are the vector
    env's. ``task`` defaults to the family's first task drawn with seed 0; ``set_task`` switches the
    model at once (the state is kept until ``reset``). ``model``, ``data`` and ``dt`` are exposed as in
    gymnasium's MuJoCo envs; ``render_mode="rgb_array"`` renders width x height frames with a
    camera that tracks the robot.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, family: str, task=None, render_mode: str | None = None, width: int = 480, height: int = 360):
        if family not in FAMILIES:
            raise ValueError(f"unknown MuJoCo task family {family!r}; choose one of {sorted(FAMILIES)}")
        self.family = FAMILIES[family]
        self._vec = MujocoVecEnv(self.family, [self.family.default_task() if task is None else task], 1,
                                 horizon=None)
        self.observation_space = self._vec.single_observation_space
        self.action_space = self._vec.single_action_space
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.dt))}
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode, self.width, self.height = render_mode, width, height
        self._renderer = None

    @property
    def task(self) -> dict:
        """The current task (a fresh copy)."""
        return copy.deepcopy(self._vec.tasks[0])

    def set_task(self, task) -> None:
        """Switch to ``task`` (checked): its model replaces the current one, from the robot's defaults."""
        model = self.family.model_for(task)
        self._vec.tasks[0] = self.family.check_task(task)
        self._vec.models[0] = self._vec._slot_models[0] = model
        self._vec._features = self.family.task_features(task)[None]
        self._close_renderer()

    @property
    def model(self) -> mujoco.MjModel:
        return self._vec.models[0]

    @property
    def data(self) -> mujoco.MjData:
        return self._vec.datas[0]

    @property
    def dt(self) -> float:
        return self._vec.dt

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        obs, info = self._vec.reset_slots([self.np_random])
        return obs[0], info

    def step(self, action):
        if self._vec._steps is None:
            raise RuntimeError("call reset() before step")
        action = check_actions(action, self.action_space.shape)
        obs, rewards, terminated, truncated, info = self._vec.step(action[None])
        return obs[0], float(rewards[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self):
        """An RGB frame [height, width, 3] (uint8) of the current state (``render_mode="rgb_array"``)."""
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = Camera(self.model, self.family.robot.camera, width=self.width, height=self.height)
        return self._renderer.frame(self.data)

    def _close_renderer(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def close(self):
        self._close_renderer()


class Camera:
    """A ``mujoco.Renderer`` with a camera that tracks one body (headless with MUJOCO_GL=egl).

    Shadows and the floor's reflections are off unless ``shadows``: a software OpenGL (Mesa's
    llvmpipe, what EGL gives on a machine without a GPU) draws a frame about ten times faster so.
    """

    def __init__(self, model: mujoco.MjModel, config: dict, *, width: int, height: int, shadows: bool = False):
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        try:
            self.renderer = mujoco.Renderer(model, height=height, width=width)
        except Exception as error:  # noqa: BLE001  (GLFW, EGL and OSMesa fail in different ways)
            raise RuntimeError(f"MuJoCo could not open an OpenGL context ({error}); without a display, set "
                               f"MUJOCO_GL=egl before MuJoCo is first imported") from error
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
            self.renderer.scene.flags[flag] = shadows
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        self.camera.trackbodyid = config.get("body", 1)
        self.camera.distance = config.get("distance", 4.0)
        self.camera.elevation = config.get("elevation", -20.0)
        self.camera.azimuth = config.get("azimuth", 90.0)

    def frame(self, data: mujoco.MjData, markers=()) -> np.ndarray:
        """The scene of ``data`` with extra ``markers`` (dicts for ``mujoco.mjv_initGeom``), [h, w, 3] uint8."""
        self.renderer.update_scene(data, camera=self.camera)
        scene = self.renderer.scene
        for marker in markers:
            if scene.ngeom < scene.maxgeom:
                mujoco.mjv_initGeom(scene.geoms[scene.ngeom], **marker)
                scene.ngeom += 1
        return self.renderer.render()

    def close(self) -> None:
        self.renderer.close()
