"""`metarl-lite demo`: the reference HalfCheetahDir MAML policy adapts both ways, and the demo writes
what it says and trains nav2d."""

import math
from pathlib import Path

import imageio.v3 as iio

from metarl_lite import configs
from metarl_lite.demo import REFERENCE_RUN, run_demo
from metarl_lite.rl import training

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_adapts_the_reference_policy_to_both_directions_and_trains_nav2d(tmp_path):
    lines = []
    result = run_demo(tmp_path, run=ROOT / REFERENCE_RUN, adapt_steps=1, episodes=40, nav2d_iterations=2,
                      video_size=(64, 48), progress=False, echo=lines.append)
    for direction, (before, after) in result["returns"].items():  # one step helps, beyond the sampling noise
        se_before, se_after = result["stderr"][direction]
        assert after - before > 2 * math.hypot(se_before, se_after), (direction, before, after, se_before, se_after)
    frames = iio.imread(result["video"])
    assert frames.shape[1:] == (2 * 48, 2 * 64, 3)  # a row per direction, before | after
    assert Path(result["figure"]).stat().st_size > 5_000
    assert len(result["nav2d"]) == 2 and (tmp_path / "nav2d_maml" / "checkpoint.pt").is_file()
    assert any("backward" in line for line in lines) and any("2D navigation" in line for line in lines)


def test_the_demo_says_what_to_fix(tmp_path, cli_error):
    nav = tmp_path / "nav"
    config = configs.make_config("random", "nav2d", "quick", hidden=(8,))
    training.train(config, nav, progress=False)
    cases = [(["--run", str(tmp_path / "missing")], "no reference policy at"),
             (["--run", str(nav)], "was trained on nav2d"),
             (["--adapt-steps", "0"], "--adapt-steps must be an integer >= 1"),
             (["--episodes", "0"], "--episodes must be >= 1")]
    for argv, message in cases:
        assert message in cli_error(["demo", "--out", tmp_path / "demo", *argv])
    assert not (tmp_path / "demo").exists()
