"""metarl_lite.render: frames of a policy's episode on a MuJoCo task, and mp4 / gif videos of it."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering, before MuJoCo is imported (as `make test` sets it)

import gymnasium as gym  # noqa: E402
import imageio.v3 as iio  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from metarl_lite.render import encode, gif, html_video, markers, render_policy, rollout_frames  # noqa: E402
from metarl_lite.rl import policies  # noqa: E402
from metarl_lite.tasks.mujoco import FAMILIES, common  # noqa: E402

SIZE = {"width": 64, "height": 48}


def test_frames_follow_the_episode_that_the_single_env_runs():
    task = {"goal": [2.0, -1.0]}
    params = policies.init_policy(107, 8, seed=3)
    rollout = rollout_frames("ant-goal", params, task=task, seed=5, horizon=6, **SIZE)
    assert len(rollout.frames) == 7 and rollout.fps == 20.0  # the start and one frame per step (dt = 0.05 s)
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in rollout.frames)
    assert not np.array_equal(rollout.frames[0], rollout.frames[-1])
    # the same episode by hand: the single env reset with the seed, a ~ pi(. | s) from a generator seeded alike
    env = gym.make(FAMILIES["ant-goal"].ENV_ID, task=task).unwrapped
    obs, _ = env.reset(seed=5)
    generator = torch.Generator().manual_seed(5)
    rewards = []
    for _ in range(6):
        with torch.no_grad():
            action, _ = policies.sample(params, torch.as_tensor(obs, dtype=torch.float32), generator)
        obs, reward, _, _, _ = env.step(action.numpy())
        rewards.append(reward)
    np.testing.assert_array_equal(rollout.rewards, rewards)
    assert rollout.episode_return == pytest.approx(sum(rewards)) and rollout.task == task


def test_fast_robots_keep_every_kth_frame_and_episodes_stop_at_termination():
    rollout = rollout_frames("hopper-params", None, seed=0, horizon=9, **SIZE)  # dt = 0.008 s: 125 steps per second
    assert rollout.fps == pytest.approx(125 / 3)  # every third frame: at most 50 per second
    assert len(rollout.frames) == 1 + 9 // 3
    toppled = rollout_frames("walker2d-params", None, seed=0, **SIZE)  # an untrained walker falls long before H
    assert len(toppled.rewards) < FAMILIES["walker2d-params"].HORIZON


def test_markers_show_the_goal_and_the_direction():
    assert markers("halfcheetah-vel", {"velocity": 1.0}) == []
    (goal,) = markers("ant-goal", {"goal": [1.5, 2.0]})
    np.testing.assert_allclose(goal["pos"][:2], [1.5, 2.0])
    beads = markers("ant-dir", {"direction": [0.6, 0.8]})
    positions = np.array([bead["pos"][:2] for bead in beads])
    np.testing.assert_allclose(positions / np.linalg.norm(positions, axis=1, keepdims=True), [[0.6, 0.8]] * len(beads))
    family = FAMILIES["ant-goal"]
    env = gym.make(family.ENV_ID, task={"goal": [0.0, 1.0]}).unwrapped
    env.reset(seed=0)
    camera = common.Camera(env.model, family.robot.camera, **SIZE)
    plain, marked = camera.frame(env.data), camera.frame(env.data, markers("ant-goal", env.task))
    camera.close()
    redder = marked[..., 0].astype(int) - marked[..., 1] > plain[..., 0].astype(int) - plain[..., 1] + 40
    assert redder.sum() > 5  # the red goal ball is in the picture


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_render_policy_writes_a_video_that_decodes_to_the_frames(tmp_path, suffix):
    out = tmp_path / "videos" / f"cheetah{suffix}"
    info = render_policy("halfcheetah-dir", None, out, task={"direction": -1}, seed=1, horizon=8, **SIZE)
    assert info["path"] == str(out) and out.is_file()
    assert (info["steps"], info["frames"], info["fps"], info["task"]) == (8, 9, 20.0, {"direction": -1})
    rollout = rollout_frames("halfcheetah-dir", None, task={"direction": -1}, seed=1, horizon=8, **SIZE)
    assert info["return"] == rollout.episode_return
    frames = iio.imread(out)
    assert frames.shape == (9, 48, 64, 3)
    tolerance = 40 if suffix == ".mp4" else 25  # H.264 is lossy; GIF quantizes to 256 colours
    assert np.abs(frames.astype(int) - np.array(rollout.frames)).mean() < tolerance / 4
    assert np.abs(frames.astype(int) - np.array(rollout.frames)).max() < 256


def test_inline_videos_for_notebooks():
    frames = [np.full((16, 16, 3), value, dtype=np.uint8) for value in (0, 128, 255)]
    html = html_video(frames, fps=10).data
    assert html.startswith("<video") and "data:video/mp4;base64," in html
    image = gif(frames, fps=10)
    assert image.data[:6] == b"GIF89a"
    assert encode(frames, 10, ".gif") == image.data


def test_bad_arguments_get_one_line_errors(tmp_path, one_line_errors):
    cases = [
        (lambda: render_policy("halfcheetah-vel", None, tmp_path / "a.avi"), r"--out must end in .mp4 or .gif"),
        (lambda: rollout_frames("nav2d"), r"rendering needs a MuJoCo task, one of \['ant-dir'"),
        (lambda: rollout_frames("ant-dir", policies.init_policy(17, 6, seed=0), **SIZE),
         r"params must be one policy for ant-dir \(observations \(105,\), actions \(8,\)"),
        (lambda: rollout_frames("ant-dir", policies.stack([policies.init_policy(105, 8, seed=0)] * 2), **SIZE),
         "params must be one policy"),
        (lambda: rollout_frames("ant-dir", width=63, height=48), "width and height must be even integers"),
        (lambda: rollout_frames("ant-dir", horizon=0, **SIZE), "horizon must be a positive integer"),
        (lambda: rollout_frames("ant-dir", task={"direction": [1, 1]}, **SIZE), "must be a unit vector"),
        (lambda: encode([np.zeros((16, 16, 3), np.uint8)], 10, ".png"), r"videos are written as .mp4 or .gif"),
    ]
    one_line_errors(cases)
