"""Videos of a policy on a MuJoCo task: frames of one episode, inline HTML5 video or GIF, mp4/gif files.

Frames come from ``mujoco.Renderer`` with a camera that tracks the robot; without a display set
MUJOCO_GL=egl before MuJoCo is first imported (``metarl_lite.tasks.mujoco`` does it when it is
imported first). A policy is a parameter dict from ``metarl_lite.rl.policies.init_policy`` (one
task's theta or phi, not per-task params); None means an untrained one drawn with the seed. The
actions are sampled, a ~ pi(. | s), as in training and evaluation. AntGoal shows its goal as a red
ball and AntDir its direction as a row of red beads from the origin.

    rollout = rollout_frames("halfcheetah-vel", params, task={"velocity": 1.5})
    html_video(rollout.frames, rollout.fps)            # in a notebook
    render_policy("ant-goal", None, "ant.mp4")         # what `metarl-lite render` calls
    render_grid("halfcheetah-dir", [[(before, task, "before"), (after, task, "after 1 step")]], "adapt.mp4")
"""

import base64
import math
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from .rl import policies
from .tasks.mujoco import FAMILIES
from .tasks.mujoco.common import Camera

MAX_FPS = 50  # GIF timing has 10 ms steps; faster envs (Walker2d, Hopper: 125 steps/s) keep every k-th frame
FORMATS = (".mp4", ".gif")


@dataclass
class Rollout:
    """One episode: ``frames`` [h, w, 3] uint8 played at ``fps`` (real time), every step's reward r_t."""

    frames: list
    rewards: np.ndarray  # [T]
    fps: float
    task: dict

    @property
    def episode_return(self) -> float:
        """sum_t r_t."""
        return float(self.rewards.sum())


def _family(task_name: str):
    if task_name not in FAMILIES:
        raise ValueError(f"rendering needs a MuJoCo task, one of {sorted(FAMILIES)}; got {task_name!r}")
    return FAMILIES[task_name]


def markers(task_name: str, task: dict) -> list:
    """Extra geoms (``mujoco.mjv_initGeom`` keyword dicts) that show the task: AntGoal's goal, AntDir's direction."""
    import mujoco

    def ball(x, y, radius):
        return {"type": mujoco.mjtGeom.mjGEOM_SPHERE, "size": np.array([radius, 0, 0]),
                "pos": np.array([x, y, radius]), "mat": np.eye(3).ravel(), "rgba": np.array([0.9, 0.1, 0.1, 0.8])}

    if task_name == "ant-goal":
        return [ball(*task["goal"], 0.25)]
    if task_name == "ant-dir":
        dx, dy = task["direction"]
        return [ball(k * dx, k * dy, 0.08) for k in np.arange(1.0, 8.0, 1.0)]
    return []


def rollout_frames(task_name: str, params=None, *, task=None, seed: int = 0, width: int = 480, height: int = 320,
                   horizon: int | None = None, shadows: bool = False) -> Rollout:
    """Run one episode of ``task`` (default: drawn from the family with ``seed``) under ``params``
    (default: an untrained policy, seed ``seed``) for ``horizon`` steps (default H, fewer if it
    terminates), rendering width x height frames at up to 50 per second of simulated time
    (``shadows``: with shadows and reflections, about ten times slower without a GPU)."""
    family = _family(task_name)
    if task is None:
        task = family.sample_tasks(1, np.random.default_rng(seed))[0]
    if isinstance(width, bool) or not isinstance(width, int) or width < 16 or width % 2 \
            or isinstance(height, bool) or not isinstance(height, int) or height < 16 or height % 2:
        raise ValueError(f"width and height must be even integers >= 16 (video codecs need even sizes), "
                         f"got {width!r} x {height!r}")
    horizon = family.HORIZON if horizon is None else horizon
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    env = gym.make(family.ENV_ID, task=task).unwrapped
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    if params is None:
        params = policies.init_policy(obs_dim, act_dim, seed=seed)
    if policies.n_tasks(params) is not None or params["0.weight"].shape[-1] != obs_dim \
            or params[policies.LOG_STD].shape[-1] != act_dim:
        raise ValueError(f"params must be one policy for {task_name} (observations ({obs_dim},), actions "
                         f"({act_dim},), as init_policy makes it); got log_std {list(params[policies.LOG_STD].shape)} "
                         f"and inputs {params['0.weight'].shape[-1]}")
    stride = math.ceil(1 / env.dt / MAX_FPS)
    camera = Camera(env.model, family.robot.camera, width=width, height=height, shadows=shadows)
    shown = markers(task_name, env.task)
    generator = torch.Generator().manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    frames, rewards = [camera.frame(env.data, shown)], []
    try:
        with torch.no_grad():
            for t in range(horizon):
                s = torch.as_tensor(obs, dtype=params[policies.LOG_STD].dtype)
                action, _ = policies.sample(params, s, generator)
                obs, reward, terminated, _, _ = env.step(action.numpy())
                rewards.append(reward)
                if (t + 1) % stride == 0 or terminated:
                    frames.append(camera.frame(env.data, shown))
                if terminated:
                    break
    finally:
        camera.close()
    return Rollout(frames, np.array(rewards), 1 / (env.dt * stride), env.task)


def encode(frames, fps: float, suffix: str) -> bytes:
    """The frames as an ``.mp4`` (H.264, via imageio-ffmpeg) or ``.gif`` (looping) file's bytes."""
    import imageio.v3 as iio

    if suffix not in FORMATS:
        raise ValueError(f"videos are written as {' or '.join(FORMATS)}; got {suffix!r}")
    frames = np.asarray(frames)
    if suffix == ".mp4":
        return iio.imwrite("<bytes>", frames, extension=".mp4", fps=fps, macro_block_size=2)
    return iio.imwrite("<bytes>", frames, extension=".gif", duration=round(1000 / fps), loop=0)


def html_video(frames, fps: float):
    """An inline HTML5 video (mp4, base64) for a notebook cell."""
    from IPython.display import HTML

    data = base64.b64encode(encode(frames, fps, ".mp4")).decode("ascii")
    return HTML(f'<video controls loop autoplay muted playsinline src="data:video/mp4;base64,{data}"></video>')


def gif(frames, fps: float):
    """An inline looping GIF for a notebook cell."""
    from IPython.display import Image

    return Image(data=encode(frames, fps, ".gif"), format="gif")


def tiled(grid) -> list:
    """The frames of a grid (rows) of ``(Rollout, label)`` played together: each panel labelled in its
    corner, and a rollout that ended early holds its last frame."""
    from PIL import Image, ImageDraw

    length = max(len(rollout.frames) for row in grid for rollout, _ in row)

    def panel(rollout, label, t):
        image = Image.fromarray(rollout.frames[min(t, len(rollout.frames) - 1)])
        ImageDraw.Draw(image).text((8, 6), label, fill=(255, 255, 255))
        return np.asarray(image)

    return [np.concatenate([np.concatenate([panel(r, label, t) for r, label in row], axis=1) for row in grid])
            for t in range(length)]


def render_grid(task_name: str, grid, out_path, *, seed: int = 0, width: int = 480, height: int = 320) -> dict:
    """Write one video of several policies side by side: ``grid`` is rows of ``(params, task, label)``
    (e.g. a row per task with the policy before and after adaptation), every episode with ``seed``.

    Returns {"path", "frames", "fps", "returns"}: "returns" has the grid's shape, each episode's sum_t r_t.
    """
    out_path = _video_path(out_path)
    rollouts = [[(rollout_frames(task_name, params, task=task, seed=seed, width=width, height=height), label)
                 for params, task, label in row] for row in grid]
    frames, fps = tiled(rollouts), rollouts[0][0][0].fps
    out_path.write_bytes(encode(frames, fps, out_path.suffix.lower()))
    return {"path": str(out_path), "frames": len(frames), "fps": fps,
            "returns": [[rollout.episode_return for rollout, _ in row] for row in rollouts]}


def _video_path(out_path) -> Path:
    out_path = Path(out_path)
    if out_path.suffix.lower() not in FORMATS:
        raise ValueError(f"--out must end in {' or '.join(FORMATS)}, got {str(out_path)!r}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return out_path


def render_policy(task_name: str, params, out_path, *, task=None, seed: int = 0, width: int = 480, height: int = 320,
                  horizon: int | None = None, shadows: bool = False) -> dict:
    """Write a video of ``params`` (None: an untrained policy) on ``task`` to ``out_path``, mp4 or gif by suffix.

    Returns {"path", "task", "steps", "frames", "fps", "return"}: what was written and the episode's
    return sum_t r_t. The task defaults to the family's task drawn with ``seed`` (see ``rollout_frames``).
    """
    out_path = _video_path(out_path)
    rollout = rollout_frames(task_name, params, task=task, seed=seed, width=width, height=height, horizon=horizon,
                             shadows=shadows)
    out_path.write_bytes(encode(rollout.frames, rollout.fps, out_path.suffix.lower()))
    return {"path": str(out_path), "task": rollout.task, "steps": len(rollout.rewards), "frames": len(rollout.frames),
            "fps": rollout.fps, "return": rollout.episode_return}
