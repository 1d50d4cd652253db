# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: metarl-lite
#     language: python
#     name: metarl-lite
# ---

# %% [markdown]
# # 00 · Welcome to metarl-lite
#
# **Goal.** By the end of this chapter you know what the course teaches and who it is for,
# you have checked that your machine runs everything the later chapters need (PyTorch,
# Gymnasium, headless MuJoCo rendering), you have seen the small library the chapters call,
# and you know the road ahead.
#
# ## Background: what is this course about?
#
# A person who has learned to ride one bicycle learns to ride another in minutes. A neural
# network trained on one task usually needs thousands of examples to learn the next one.
# **Meta-learning** ("learning to learn") trains on a *distribution* of related tasks so that
# a *new* task from the same distribution is learned from very little data: five points of a
# curve, or a handful of episodes of a robot trying to run at a new speed.
#
# This course follows one family of methods, **gradient-based meta-learning**, from the
# objective on paper to an agent that adapts on MuJoCo:
#
# * **MAML** (Finn, Abbeel & Levine, 2017) learns an initialization $\theta$ from which one
#   or a few gradient steps reach a good solution for any task;
# * **Reptile** (Nichol, Achiam & Schulman, 2018) is a first-order cousin that needs no
#   second derivatives;
# * **probabilistic MAML / PLATIPUS** (Finn, Xu & Levine, 2018) learns a *distribution* over
#   initializations, for tasks that a few examples leave ambiguous;
# * **MAML-RL** applies all this to reinforcement learning, where the data of each task
#   comes from the agent's own behaviour.
#
# Every derivation is checked by a line of code, every claim by an `assert`, and every
# algorithm is a short function of a small, tested library, `metarl_lite`.
#
# ### Who this course is for
#
# * **Students** who know basic machine learning (gradient descent, overfitting, a train/test
#   split) and basic PyTorch (tensors, `autograd`, an optimizer). No reinforcement learning
#   is assumed: chapter 05 introduces policy gradients from scratch.
# * **Teachers**, who get chapters that run in under two minutes on a laptop CPU, figures
#   that tell the story, and self-checking assignments (`solutions/` with nbgrader markers,
#   `exercises/` generated from them).
# * **RL engineers**, who want correct and fast reference implementations of MAML, Reptile,
#   probabilistic MAML and MAML-RL on today's Gymnasium and MuJoCo, with tests that compare
#   against closed forms and the numbers of the original papers.
#
# ### How to use it
#
# 1. From the repository root, `make lab` installs everything (once) and opens
#    **JupyterLab** on the `chapters/` folder. Open a chapter and choose *Run → Run All Cells*.
# 2. **Edit and re-run.** Every cell is meant to be changed: halve a step size, double a
#    number of tasks, then press `Shift+Enter` and watch what happens. When a change breaks an
#    `assert`, the assertion message tells you which claim no longer holds; that is part of
#    the lesson. *Kernel → Restart Kernel and Run All Cells* brings back the original state.
# 3. **Sliders.** Some figures come with sliders (`ipywidgets`): drag one and the figure is
#    recomputed. Each slider drives a plain Python function that you can also call yourself.
# 4. Each chapter has the same shape: *Goal → Background → Key equations → Derivation*
#    (numbered steps, each checked numerically) *→ Pseudocode → Library call → Experiment →
#    What to remember → Exercises → References*. You always know where to find the equation.
#
# Everything runs on the CPU with one thread, and every random number comes from a fixed seed,
# so you see the same numbers as the text.

# %% [markdown]
# ## Key equations: the one idea of the course
#
# A **task** $\mathcal{T}$ comes with a loss $\mathcal{L}_\mathcal{T}$ and a little training
# data $\mathcal{D}^{tr}_\mathcal{T}$ (the *support set*). A learner starts from parameters
# $\theta$ and adapts them to the task, for MAML by one gradient step of size $\alpha$:
#
# $$\phi_\mathcal{T} = \mathrm{Adapt}(\theta, \mathcal{D}^{tr}_\mathcal{T})
#   = \theta - \alpha \nabla_\theta \mathcal{L}_\mathcal{T}(\theta, \mathcal{D}^{tr}_\mathcal{T}).$$
#
# Meta-learning chooses $\theta$ so that the *adapted* parameters $\phi_\mathcal{T}$ do well
# on fresh data of the same task (the *query set* $\mathcal{D}^{te}_\mathcal{T}$), on average
# over the distribution of tasks $p(\mathcal{T})$:
#
# $$\min_\theta \; \mathbb{E}_{\mathcal{T} \sim p(\mathcal{T})}
#   \Big[ \mathcal{L}_\mathcal{T}\big(\mathrm{Adapt}(\theta, \mathcal{D}^{tr}_\mathcal{T}),
#   \mathcal{D}^{te}_\mathcal{T}\big) \Big].$$
#
# Chapter 01 explains why this objective, and not ordinary training, is the right one;
# chapter 02 differentiates it; the rest of the course optimizes it in ever harder settings.

# %% [markdown]
# ## Set-up check
#
# The cells below check your installation. `MUJOCO_GL` chooses MuJoCo's OpenGL backend and
# must be set *before* `mujoco` is imported; `egl` renders without a window, which is what a
# server or a notebook needs. (On macOS, where EGL does not exist, start Jupyter with
# `MUJOCO_GL=cgl`; `setdefault` keeps a value you set yourself.)

# %%
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import sys

import gymnasium
import ipywidgets as widgets
import matplotlib.pyplot as plt
import mujoco
import numpy as np
import torch
from matplotlib.patches import FancyBboxPatch

import metarl_lite
from metarl_lite.meta import adapt, maml_objective
from metarl_lite.nn import init_mlp, mlp
from metarl_lite.tasks import Sinusoid

# %% [markdown]
# **Check 1: versions.** Your numbers may be newer than the ones this course was written with
# (Python 3.11, torch 2.13, gymnasium 1.4, mujoco 4.0); that is fine.

# %%
# NBVAL_IGNORE_OUTPUT
print(f"Python     {sys.version.split()[0]}")
print(f"torch      {torch.__version__}")
print(f"gymnasium  {gymnasium.__version__}")
print(f"mujoco     {mujoco.__version__}")
print(f"metarl-lite {metarl_lite.__version__}   (MUJOCO_GL={os.environ['MUJOCO_GL']})")
assert sys.version_info >= (3, 11), "metarl-lite needs Python 3.11 or newer"

# %% [markdown]
# **Check 2: one thread, fixed seeds.** `metarl_lite.seed_everything(seed)` seeds Python,
# NumPy and PyTorch, pins PyTorch to **one thread**, and returns a NumPy random generator.
# One thread is not a limitation: the networks of this course are so small that splitting
# each matrix product across cores costs more in synchronisation than it saves, and one
# thread makes every result reproducible bit for bit.

# %%
# NBVAL_CHECK_OUTPUT
rng = metarl_lite.seed_everything(0)
print("torch threads:", torch.get_num_threads())
assert torch.get_num_threads() == 1

# %% [markdown]
# **Check 3: headless MuJoCo.** MuJoCo describes a world in an XML format called *MJCF*. Here
# is a tiny one, written inline: a floor, a light, and a pendulum (a capsule with a red bob)
# on a hinge, released at 45 degrees. We simulate it for a moment and let
# `mujoco.Renderer` draw frames into NumPy arrays, without any window.

# %%
PENDULUM_XML = """
<mujoco model="welcome-pendulum">
  <visual><headlight ambient="0.4 0.4 0.4" diffuse="0.6 0.6 0.6"/></visual>
  <asset>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="0.4 0.6 0.8" rgb2="0 0 0" width="256" height="256"/>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.2 0.3 0.4" rgb2="0.3 0.4 0.5" width="256" height="256"/>
    <material name="grid" texture="grid" texrepeat="4 4" reflectance="0.1"/>
  </asset>
  <worldbody>
    <light pos="0 -1 3" dir="0 0.3 -1"/>
    <geom type="plane" size="2 2 0.1" material="grid"/>
    <body name="pole" pos="0 0 1.2">
      <joint name="hinge" type="hinge" axis="0 1 0"/>
      <geom type="capsule" fromto="0 0 0 0.6 0 -0.6" size="0.05" rgba="0.9 0.6 0.2 1"/>
      <geom name="bob" type="sphere" pos="0.6 0 -0.6" size="0.15" rgba="0.85 0.1 0.1 1"/>
    </body>
  </worldbody>
</mujoco>
"""

model = mujoco.MjModel.from_xml_string(PENDULUM_XML)
data = mujoco.MjData(model)
camera = mujoco.MjvCamera()
camera.lookat[:] = (0.3, 0.0, 0.6)
camera.distance, camera.azimuth, camera.elevation = 3.0, 90.0, -15.0

times = [0.0, 0.2, 0.4, 0.6]  # seconds
frames, bob_heights = [], []
with mujoco.Renderer(model, height=240, width=320) as renderer:
    for t in times:
        while data.time < t - 1e-9:
            mujoco.mj_step(model, data)
        mujoco.mj_forward(model, data)
        renderer.update_scene(data, camera=camera)
        frames.append(renderer.render())
        bob_heights.append(data.geom("bob").xpos[2])

fig, axes = plt.subplots(1, len(frames), figsize=(12, 2.6))
for ax, frame, t, z in zip(axes, frames, times, bob_heights):
    ax.imshow(frame)
    ax.set_title(f"t = {t:.1f} s, bob height {z:.2f} m", fontsize=9)
    ax.axis("off")
fig.suptitle("MuJoCo, rendered headless: a pendulum released at 45 degrees falls and swings")
plt.tight_layout()
plt.show()

# %% [markdown]
# Three things should hold: a frame is a `height x width x 3` array of bytes; the red bob is
# visible in it (so the scene really was drawn, not left black); and gravity works: the bob
# starts at height $1.2 - 0.6 = 0.6$ m and falls, but never below the bottom of its circle,
# $1.2 - 0.6\sqrt{2} \approx 0.35$ m (the hinge is at 1.2 m, the bob $0.6\sqrt{2}$ m from it).
# MuJoCo also must not have complained: it writes warnings to a file `MUJOCO_LOG.TXT` in the
# current folder, which must not exist.

# %%
frame = frames[0]
red = (frame[..., 0] > 150) & (frame[..., 1] < 80) & (frame[..., 2] < 80)
assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8, frame.shape
assert red.sum() > 100, f"the red bob covers only {red.sum()} pixels; is rendering working?"
lowest = 1.2 - 0.6 * np.sqrt(2)
assert np.isclose(bob_heights[0], 0.6) and lowest - 1e-3 < min(bob_heights) < 0.45, bob_heights
assert not os.path.exists("MUJOCO_LOG.TXT"), "MuJoCo logged a warning; read MUJOCO_LOG.TXT"
print(f"rendered {len(frames)} frames of {frame.shape}; the bob covers {red.sum()} pixels of frame 0")

# %% [markdown]
# ## Derivation: what a checked step looks like
#
# Every derivation in this course is a list of numbered steps. Each step is a markdown cell
# that states a fact and a code cell that checks it numerically with an `assert`. Here is the
# pattern on the smallest possible example.
#
# **Step 1.** For a one-parameter model $f_\theta(x) = \theta x$ and the squared error
# $\mathcal{L}(\theta) = (\theta x - y)^2$, the gradient is
# $\nabla_\theta \mathcal{L} = 2x(\theta x - y)$, so one gradient step of size $\alpha$ gives
# $\phi = \theta - 2\alpha x(\theta x - y)$.
#
# We compute $\phi$ three ways: with the formula, with a central finite difference
# $\big(\mathcal{L}(\theta + \varepsilon) - \mathcal{L}(\theta - \varepsilon)\big) / 2\varepsilon$
# for the gradient, and with the library's `adapt`, which uses autograd.

# %%
theta, x, y, alpha, eps = 0.7, 1.5, -2.0, 0.1, 1e-6


def loss(t):
    return (t * x - y) ** 2


phi_formula = theta - alpha * 2 * x * (theta * x - y)
phi_finite_difference = theta - alpha * (loss(theta + eps) - loss(theta - eps)) / (2 * eps)
phi_autograd = adapt(
    lambda p, batch: (p["w"] * batch[0] - batch[1]) ** 2,
    {"w": torch.tensor(theta, dtype=torch.float64)},
    (torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)),
    lr=alpha,
)["w"].item()
print(f"phi: formula {phi_formula:.6f}, finite difference {phi_finite_difference:.6f}, autograd {phi_autograd:.6f}")
assert abs(phi_formula - phi_finite_difference) < 1e-6 and abs(phi_formula - phi_autograd) < 1e-12

# %% [markdown]
# Exact properties are checked in `float64` with tight tolerances; learning claims
# ("adaptation lowers the loss") are checked with a fixed seed and a margin.
#
# ## Pseudocode: the shape of every algorithm in this course
#
# ```
# input: task distribution p(T), inner step size alpha, outer step size beta
# initialize theta
# repeat
#     sample a batch of tasks T_1 .. T_n ~ p(T)
#     for each task T_i:
#         D_tr, D_te   <- data of T_i (support and query sets; in RL: episodes)
#         phi_i        <- Adapt(theta, D_tr)          # e.g. k gradient steps of size alpha
#     theta <- theta - beta * grad_theta  (1/n) sum_i L_{T_i}(phi_i, D_te)
# ```
#
# MAML differentiates through `Adapt`; Reptile replaces the outer gradient by the average
# displacement $\phi_i - \theta$; PLATIPUS makes $\theta$ random; MAML-RL collects $D_{tr}$
# and $D_{te}$ by running the policy. Chapters 02 to 10 fill in each line.

# %% [markdown]
# ## Library call: a tour of `metarl_lite`
#
# The chapters stay short because the mechanics live in a small library. Its parts:
#
# | module | what it holds |
# |---|---|
# | `metarl_lite.nn` | functional MLPs: `init_mlp(sizes, seed=...)` returns parameters as a plain `dict` of tensors, `mlp(params, x)` runs the network |
# | `metarl_lite.meta` | task-agnostic meta-learning: `adapt`, `maml_objective`, `reptile_step`, `Platipus` |
# | `metarl_lite.tasks` | task distributions with `sample_tasks(n, rng)`: `Sinusoid`, `LinearRegression`, `Ambiguous`, and the RL tasks (navigation, MuJoCo) |
# | `metarl_lite.rl` | policies, samplers, returns, baselines and surrogate losses for meta-RL (from chapter 05) |
# | `metarl-lite` (CLI) | long experiments: `train`, `evaluate`, `plot`, whose results the later chapters load |
#
# **`metarl_lite.nn`.** Parameters are a dictionary, keyed like `torch.nn.Sequential`
# (`"0.weight"` has shape `[out, in]`). Because the network is a pure function of
# `(params, x)`, "the network with adapted parameters $\phi$" is simply `mlp(phi, x)`.

# %%
# NBVAL_CHECK_OUTPUT
params = init_mlp([1, 40, 40, 1], seed=0)
for name, value in params.items():
    print(f"{name:9s} {tuple(value.shape)}")
x = torch.linspace(-5, 5, 7).unsqueeze(-1)  # [points, features] = [7, 1]
print("mlp(params, x) has shape", tuple(mlp(params, x).shape))

# %% [markdown]
# **`metarl_lite.tasks`.** A task distribution samples tasks; a regression task samples
# `(x, y)` pairs of shape `[k, 1]`. Here: three sinusoids $y = A \sin(x - \varphi)$, the
# running example of chapters 01 to 04, and $K = 5$ points of the first one.

# %%
# NBVAL_CHECK_OUTPUT
tasks = Sinusoid().sample_tasks(3, rng)
for task in tasks:
    print(f"amplitude A = {task.amplitude:.3f}, phase = {task.phase:.3f}")
support = tasks[0].sample(5, rng)
print("support set shapes:", tuple(support[0].shape), tuple(support[1].shape))

# %% [markdown]
# **`metarl_lite.meta`.** `adapt(loss_fn, params, batch, lr=alpha, steps=k)` takes $k$
# gradient steps on `batch` and returns the adapted dictionary $\phi$, still differentiable
# with respect to $\theta$ (that is what MAML needs). `maml_objective` averages the query
# loss after adaptation over a list of `(support, query)` tasks: it *is* the objective of the
# key equation above.


# %%
def mse(params, batch):
    """Mean squared error of the MLP on a batch (x [k, 1], y [k, 1])."""
    x, y = batch
    return ((mlp(params, x) - y) ** 2).mean()


phi = adapt(mse, params, support, lr=0.01, steps=5)
before, after = mse(params, support).item(), mse(phi, support).item()
print(f"support loss before {before:.3f}, after 5 steps of size 0.01: {after:.3f}")
assert after < before

pairs = [(task.sample(5, rng), task.sample(50, rng)) for task in tasks]
objective = maml_objective(mse, params, pairs, lr=0.01, steps=1)
gradient = torch.autograd.grad(objective, list(params.values()))
print(f"meta-objective on 3 tasks: {objective.item():.3f}; its gradient has one tensor per parameter:",
      [tuple(g.shape) for g in gradient])

# %% [markdown]
# **The command line.** Training MAML-RL on MuJoCo takes hours, far too long for a notebook,
# so long runs go through the `metarl-lite` command, which writes a *run folder*
# (`config.json`, `metrics.csv`, `checkpoint.pt`) that the chapters load and plot:
#
# ```bash
# metarl-lite train --algo maml --task sinusoid --config quick --out results/sinusoid/maml
# metarl-lite evaluate results/sinusoid/maml --adapt-steps 10 --shots 5   # MSE after 0..10 steps
# metarl-lite plot results/sinusoid/maml results/sinusoid/pretrain --out sinusoid.png  # curves
# ```
#
# `--algo` is one of `maml`, `fomaml`, `reptile`, `pmaml` (probabilistic MAML), `promp`
# (proximal meta-policy search), `pretrain`, `oracle` or `random`; `--task` one of
# `sinusoid`, `nav2d`, `halfcheetah-vel`, `halfcheetah-dir`, `ant-dir`, `ant-goal`,
# `walker2d-params`, `hopper-params`. `metarl-lite --help` lists the rest.

# %% [markdown]
# ## Experiment: the road ahead
#
# The course has two parts. Part I (chapters 01 to 04) studies meta-learning on supervised
# regression, where every quantity can be computed exactly and every run takes seconds.
# Part II (chapters 05 to 10) carries the same ideas to reinforcement learning, where the
# data depend on the policy, and ends on MuJoCo robots. Arrows show which chapter builds on
# which.

# %%
CHAPTERS = {
    "00": "Welcome",
    "01": "The meta-learning\nproblem",
    "02": "MAML, derived",
    "03": "Reptile",
    "04": "Probabilistic MAML\n(PLATIPUS)",
    "05": "Policy gradients",
    "06": "MAML-RL",
    "07": "MuJoCo task\ndistributions",
    "08": "MAML on MuJoCo",
    "09": "Reptile and\nprobabilistic MAML in RL",
    "10": "Beyond MAML: ProMP\n(proximal meta-policy\nsearch), RL², PEARL",
}
POSITIONS = {  # (x, y) centres: Part I on the top row, Part II below
    "00": (0, 1), "01": (1, 1), "02": (2, 1), "03": (3, 1), "04": (4, 1),
    "05": (0, 0), "06": (1, 0), "07": (2, 0), "08": (3, 0), "09": (4, 0), "10": (5, 0),
}
EDGES = [("00", "01"), ("01", "02"), ("02", "03"), ("02", "04"), ("05", "06"), ("06", "07"),
         ("07", "08"), ("08", "09"), ("09", "10"), ("02", "06"), ("03", "09"), ("04", "09")]


def draw_chapter_map(ax):
    """Draw the chapter map: one box per chapter, an arrow from each prerequisite."""
    width, height = 0.86, 0.5
    for chapter, (cx, cy) in POSITIONS.items():
        colour = "#dbe9f6" if cy == 1 else "#fde2c8"
        ax.add_patch(FancyBboxPatch((cx - width / 2, cy - height / 2), width, height,
                                    boxstyle="round,pad=0.02", facecolor=colour, edgecolor="0.3"))
        ax.text(cx, cy + 0.13, chapter, ha="center", va="center", fontsize=11, weight="bold")
        ax.text(cx, cy - 0.06, CHAPTERS[chapter], ha="center", va="center", fontsize=7.5)
    for start, end in EDGES:
        (x0, y0), (x1, y1) = POSITIONS[start], POSITIONS[end]
        if y0 == y1 and x1 == x0 + 1:  # neighbours on a row
            xy, xytext, curve = (x1 - width / 2, y1), (x0 + width / 2, y0), "arc3"
        elif y0 == y1:  # skip one box on the same row: go over it
            xy, xytext, curve = (x1 - 0.1, y1 + height / 2), (x0 + 0.1, y0 + height / 2), "arc3,rad=-0.4"
        else:  # from Part I down to Part II
            xy, xytext, curve = (x1, y1 + height / 2), (x0, y0 - height / 2), "arc3,rad=0.1"
        ax.annotate("", xy=xy, xytext=xytext,
                    arrowprops=dict(arrowstyle="-|>", color="0.35", connectionstyle=curve))
    ax.text(-0.45, 1.45, "Part I: meta-learning on regression", fontsize=10, color="#2a5d8f")
    ax.text(-0.45, -0.45, "Part II: meta-reinforcement learning", fontsize=10, color="#b3541e")
    ax.set_xlim(-0.5, 5.5)
    ax.set_ylim(-0.55, 1.6)
    ax.axis("off")


fig, ax = plt.subplots(figsize=(12, 4.2))
draw_chapter_map(ax)
ax.set_title("Chapter map of metarl-lite")
plt.show()

# %% [markdown]
# | chapter | you will learn |
# |---|---|
# | 00 Welcome | how to use the course; set-up check; the library |
# | 01 The meta-learning problem | task distributions, support and query sets, and why training from scratch or pretraining on all tasks fails with five examples |
# | 02 MAML, derived | the meta-gradient through $k$ inner steps, second and first order, checked against closed forms |
# | 03 Reptile | a first-order alternative, what it optimizes (Taylor analysis), and why it needs $k > 1$ |
# | 04 Probabilistic MAML (PLATIPUS) | a distribution over initializations for ambiguous tasks, trained with a variational bound |
# | 05 Policy gradients | the log-derivative trick, baselines, GAE, TRPO: the RL tools MAML-RL needs |
# | 06 MAML-RL | meta-policy gradients and their estimators (log-likelihood, LVC, DiCE), exactly on a small MDP |
# | 07 MuJoCo task distributions | Cheetah-Vel, Cheetah-Dir, Ant-Dir, Ant-Goal and random-parameter robots on Gymnasium v5 |
# | 08 MAML on MuJoCo | meta-training and evaluation against pretrained, random and oracle baselines |
# | 09 Reptile and probabilistic MAML in RL | the Part I alternatives in the RL setting |
# | 10 Beyond MAML | ProMP (proximal meta-policy search), RL² and PEARL: where the field went next |
#
# ### Try it: a slider
#
# Here is the task family of chapters 01 to 04: sinusoids $y = A \sin(x - \varphi)$ with
# amplitude $A \in [0.1, 5]$ and phase $\varphi \in [0, \pi]$. The function `plot_sinusoid`
# draws one of them; below it, `widgets.interactive` attaches two sliders to the same
# function. Drag them: every task is a different curve, yet all share one shape. Learning
# *that shape* from many tasks is what will let a network learn a new task from five points.


# %%
def plot_sinusoid(amplitude=2.5, phase=1.0):
    """Plot the task y = amplitude * sin(x - phase) on x in [-5, 5]."""
    x = np.linspace(-5, 5, 200)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(x, amplitude * np.sin(x - phase), color="C0")
    ax.set_xlabel("input x")
    ax.set_ylabel("output y")
    ax.set_ylim(-5.5, 5.5)
    ax.set_title(f"one task: A = {amplitude:.2f}, phase = {phase:.2f} rad")
    plt.show()


plot_sinusoid()

# %%
# NBVAL_IGNORE_OUTPUT
widgets.interactive(plot_sinusoid, amplitude=(0.1, 5.0, 0.1), phase=(0.0, np.pi, 0.05))

# %% [markdown]
# ## What to remember
#
# * Meta-learning trains on a distribution of tasks so that a new task is learned from very
#   little data. This course studies the gradient-based family: MAML, Reptile, probabilistic
#   MAML (PLATIPUS) and their RL versions.
# * The objective of the whole course: choose $\theta$ so that
#   $\mathrm{Adapt}(\theta, \mathcal{D}^{tr})$ does well on $\mathcal{D}^{te}$, on average over
#   tasks.
# * Every derivation step is followed by a cell that checks it; every claim is an `assert`.
#   Change anything and re-run: the asserts tell you what still holds.
# * The library keeps parameters as dictionaries of tensors: `init_mlp`, `mlp`, `adapt`,
#   `maml_objective`; long runs go through the `metarl-lite` command line.
# * Torch runs on one thread; MuJoCo renders headless with `MUJOCO_GL=egl`, set before
#   `import mujoco`.
#
# ## Exercises
#
# 1. **Change the world.** Give the pendulum a second link (a child `<body>` with its own
#    hinge) and render the frames again. Does the motion look chaotic after one second?
#    *Hint:* nest `<body pos="0.6 0 -0.6">` inside the first body; lengthen `times`.
# 2. **Why one thread?** Time `mlp(params, x)` and its backward pass on 1000 inputs with
#    `torch.set_num_threads(1)` and then with 2. Which is faster here, and would the answer
#    change for a network a hundred times wider? *Hint:* `%timeit`; compare the cost of the
#    arithmetic with a fixed per-call overhead.
# 3. **Break a check on purpose.** In the derivation step, replace the factor 2 in
#    `phi_formula` by 1 and re-run. Which assertion fails, and what does that tell you about
#    how these checks protect a derivation? *Hint:* which of the three computations does not
#    depend on the formula?
# 4. **Look ahead.** With the sliders, find a task whose curve is nearly flat at zero and one
#    that swings from $-5$ to $5$. If one network had to predict all tasks at once without
#    seeing any of their points, what should it predict at $x = 0$? *Hint:* average
#    $A \sin(-\varphi)$ over the phases; chapter 01 does it exactly.
#
# ## References
#
# * C. Finn, P. Abbeel, S. Levine. *Model-Agnostic Meta-Learning for Fast Adaptation of Deep
#   Networks.* ICML 2017. arXiv:1703.03400.
# * T. Hospedales, A. Antoniou, P. Micaelli, A. Storkey. *Meta-Learning in Neural Networks: A
#   Survey.* IEEE TPAMI, 2021. arXiv:2004.05439.
# * J. Beck, R. Vuorio, E. Z. Liu, Z. Xiong, L. Zintgraf, C. Finn, S. Whiteson. *A Survey of
#   Meta-Reinforcement Learning.* arXiv:2301.08028, 2023.
# * A. Nichol, J. Achiam, J. Schulman. *On First-Order Meta-Learning Algorithms.*
#   arXiv:1803.02999, 2018.
# * C. Finn, K. Xu, S. Levine. *Probabilistic Model-Agnostic Meta-Learning.* NeurIPS 2018.
#   arXiv:1806.02817.
# * J. Rothfuss, D. Lee, I. Clavera, T. Asfour, P. Abbeel. *ProMP: Proximal Meta-Policy
#   Search.* ICLR 2019. arXiv:1810.06784.
# * Y. Duan, J. Schulman, X. Chen, P. Bartlett, I. Sutskever, P. Abbeel. *RL²: Fast
#   Reinforcement Learning via Slow Reinforcement Learning.* arXiv:1611.02779, 2016.
# * K. Rakelly, A. Zhou, D. Quillen, C. Finn, S. Levine. *Efficient Off-Policy
#   Meta-Reinforcement Learning via Probabilistic Context Variables* (PEARL). ICML 2019.
#   arXiv:1903.08254.
# * E. Todorov, T. Erez, Y. Tassa. *MuJoCo: A physics engine for model-based control.* IROS 2012.
# * M. Towers et al. *Gymnasium: A Standard Interface for Reinforcement Learning
#   Environments.* arXiv:2407.17032, 2024.
# * J. Achiam. *Spinning Up in Deep Reinforcement Learning.* OpenAI, 2018 (the page shape
#   these chapters borrow).
