"""MuJoCo task distributions as native vector environments (gymnasium v5 models, MuJoCo 3/4 bindings).

Six families, each registered with gymnasium and listed in ``FAMILIES`` under the CLI's ``--task``:
halfcheetah-vel, halfcheetah-dir (``half_cheetah``), ant-dir, ant-goal (``ant``), walker2d-params,
hopper-params (``random_params``). ``common`` holds what they share.

On headless Linux (no DISPLAY) MUJOCO_GL defaults to "egl" so that ``mujoco.Renderer`` works; set
it yourself before MuJoCo is first imported to choose another backend.
"""

import os
import sys

if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and "mujoco" not in sys.modules:
    os.environ.setdefault("MUJOCO_GL", "egl")

from . import ant, half_cheetah, random_params  # noqa: E402  (registers the families)
from .common import FAMILIES, MujocoVecEnv, SimulationDiverged  # noqa: E402

__all__ = ["FAMILIES", "MujocoVecEnv", "SimulationDiverged", "ant", "half_cheetah", "random_params"]
