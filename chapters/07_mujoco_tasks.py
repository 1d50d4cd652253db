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
# # 07 · The MuJoCo task distributions
#
# **Goal.** Meta-RL papers report their results on a handful of simulated robots whose task
# changes from episode to episode: run at a target speed, walk in a given direction, reach a
# goal, cope with a heavier leg. By the end of this chapter you can
#
# * write the reward of each of the six task families of this course and say which number
#   the task changes in it;
# * explain how tasks are sampled, and check with a histogram that they are;
# * run thousands of episodes of many tasks at once with the library's vector environments;
# * see, on the half-cheetah, why these are *distributions of tasks*: a behaviour that is
#   excellent for one task is bad for another, and a controller that knows the task beats one
#   that does not by a wide margin. Finding the task from a few episodes is what MAML learns.
#
# ## Background
#
# The robots are the MuJoCo models of gymnasium's v5 environments: **HalfCheetah** (a planar
# runner with 6 motors), **Ant** (a quadruped with 8 motors), **Walker2d** (a planar biped,
# 6 motors) and **Hopper** (a planar one-legged hopper, 3 motors). MuJoCo integrates the
# equations of motion with a fixed time step, and the environment applies each action for
# `frame_skip` integration steps, so one environment step lasts
#
# $$\Delta t = \text{timestep} \times \text{frame\_skip}:\quad 0.01 \times 5 = 0.05\,\text{s (HalfCheetah, Ant)}, \qquad 0.002 \times 4 = 0.008\,\text{s (Walker2d, Hopper)}.$$
#
# Six **task families** (distributions $p(\mathcal{T})$ over tasks) sit on these robots. The
# first three come from the MAML paper (Finn, Abbeel & Levine, 2017, Fig. 5), the others from
# ProMP (Rothfuss et al., 2019); the CLI calls them by the names in the first column.
#
# | `--task` | robot | a task | horizon $H$ |
# |---|---|---|---|
# | `halfcheetah-vel` | HalfCheetah | target velocity $v^* \sim U[0, 2]$ m/s | 100 (5 s) |
# | `halfcheetah-dir` | HalfCheetah | direction $d \in \{-1, +1\}$ | 100 |
# | `ant-dir` | Ant | direction $d$ uniform on the unit circle | 200 (10 s) |
# | `ant-goal` | Ant | goal $g$ uniform on the disc of radius 3 m | 200 |
# | `walker2d-params` | Walker2d | random masses, inertias, damping, friction | 200 (1.6 s) |
# | `hopper-params` | Hopper | random masses, inertias, damping, friction | 200 |
#
# The task is **hidden**: the observation is gymnasium's v5 default for the robot (joint
# positions and velocities, for the Ant also the contact forces), the same for every task.
# An agent can only tell the tasks apart through the rewards it collects.
#
# ## Key equations
#
# Notation: $x$ is the robot's forward position (the root's first coordinate `qpos[0]`), $xy$
# the Ant's torso position in the plane, $a \in [-1, 1]^m$ the action (clipped to the action
# space before anything else), and velocities are finite differences over one environment
# step, $v = (x_{t+1} - x_t)/\Delta t$. For the Ant, $c = \|\mathrm{clip}(F, -1, 1)\|^2$ is the
# squared size of the external contact forces $F$ on its bodies (MuJoCo's `cfrc_ext`).
#
# $$\begin{aligned}
# \text{HalfCheetahVel:}\quad & r_t = -|v - v^*| - 0.05\,\|a\|^2 \\
# \text{HalfCheetahDir:}\quad & r_t = d\, v - 0.05\,\|a\|^2 \\
# \text{AntDir:}\quad & r_t = d \cdot v_{xy} - 0.5\,\|a\|^2 - 0.0005\, c + 1, \quad \text{ends when the torso height leaves } [0.2, 1]\,\text{m} \\
# \text{AntGoal:}\quad & r_t = -\|xy_{t+1} - g\|_1 - 0.1\,\|a\|^2 - 0.0005\, c \\
# \text{Walker2d/HopperRandParams:}\quad & r_t = v + 1 - 0.001\,\|a\|^2, \quad \text{ends when the robot falls (gymnasium v5's conditions)}
# \end{aligned}$$
#
# In the random-parameter families a task multiplies every body mass, every entry of the
# body inertias, every joint damping and every friction coefficient by its own factor
# $b^u$ with $u \sim U(-3, 3)$: $b = 1.5$ for masses, inertias and friction, $b = 1.3$ for
# damping. The return of an episode is $R = \sum_t r_t$ (undiscounted), the number the
# MAML paper's figures report.

# %%
import os

os.environ.setdefault("MUJOCO_GL", "egl")  # render without a display: set before MuJoCo is first imported

import time

import gymnasium as gym
import matplotlib.pyplot as plt
import mujoco
import numpy as np
from ipywidgets import Dropdown, FloatSlider, interactive
from tqdm.auto import trange

from metarl_lite import seed_everything
from metarl_lite.render import html_video, rollout_frames
from metarl_lite.rl import policies
from metarl_lite.rl.sampler import sample_episodes
from metarl_lite.tasks import RL_FAMILIES
from metarl_lite.tasks.mujoco import common, random_params

rng = seed_everything(0)
chapter_start = time.perf_counter()
FAMILIES = {name: family for name, family in RL_FAMILIES.items() if name != "nav2d"}
VEL, DIR = FAMILIES["halfcheetah-vel"], FAMILIES["halfcheetah-dir"]

# %% [markdown]
# ## The robots
#
# `metarl_lite.render.rollout_frames` runs one episode and renders it with `mujoco.Renderer`
# (headless with `MUJOCO_GL=egl`), a camera following the robot. Here are the four robots
# after a few steps of an untrained policy; the AntGoal picture shows its goal as a red ball.

# %%
pictures = {
    "HalfCheetah": rollout_frames("halfcheetah-vel", seed=0, horizon=8, width=240, height=160),
    "Ant (AntGoal)": rollout_frames("ant-goal", task={"goal": [1.5, 1.0]}, seed=0, horizon=8, width=240, height=160),
    "Walker2d": rollout_frames("walker2d-params", seed=0, horizon=8, width=240, height=160),
    "Hopper": rollout_frames("hopper-params", seed=0, horizon=8, width=240, height=160),
}
fig, axes = plt.subplots(1, 4, figsize=(12, 2.2))
for ax, (name, rollout) in zip(axes, pictures.items()):
    ax.imshow(rollout.frames[-1])
    ax.set_title(name)
    ax.set_axis_off()
plt.tight_layout()
plt.show()

# %% [markdown]
# And a short video: three seconds of the half-cheetah under an untrained Gaussian policy
# (`metarl_lite.render.html_video`; `metarl-lite render --task halfcheetah-vel --out cheetah.mp4`
# writes the same as a file).

# %%
# NBVAL_IGNORE_OUTPUT
clip = rollout_frames("halfcheetah-vel", seed=1, horizon=60, width=240, height=160)
html_video(clip.frames, clip.fps)

# %% [markdown]
# ## Derivation
#
# Every claim of the key equations, checked on the library's environments.
#
# **Step 1. The environment step lasts timestep × frame_skip seconds, as in gymnasium v5.**
# Our families use gymnasium's own model files with each model's frame_skip. We compare
# with gymnasium's environments (made quietly: gymnasium's HalfCheetah file triggers a MuJoCo 4
# deprecation warning, see step 3).

# %%
# NBVAL_CHECK_OUTPUT
GYMNASIUM_ID = {"half_cheetah.xml": "HalfCheetah-v5", "ant.xml": "Ant-v5", "walker2d_v5.xml": "Walker2d-v5",
                "hopper.xml": "Hopper-v5"}
for name in ("halfcheetah-vel", "ant-dir", "walker2d-params", "hopper-params"):
    family = FAMILIES[name]
    env = family.make_vec_env(family.sample_tasks(1, rng), 1)
    with common.mujoco_warnings():
        theirs = gym.make(GYMNASIUM_ID[family.robot.xml]).unwrapped
    assert env.dt == env.models[0].opt.timestep * family.robot.frame_skip == theirs.dt
    print(f"{family.robot.xml:16s} timestep {env.models[0].opt.timestep} s x frame_skip {family.robot.frame_skip} "
          f"= dt {env.dt:.3f} s; obs {env.single_observation_space.shape[0]}, actions {env.single_action_space.shape[0]}")

# %% [markdown]
# **Step 2. The reward is the formula, with $v$ the finite difference of the position.** Take
# HalfCheetahDir with both directions, one episode each, step with random actions (some
# beyond the limits, which the environment clips) and recompute $r_t = d\,(x_{t+1} - x_t)/\Delta t
# - 0.05\|\mathrm{clip}(a)\|^2$ from the simulator's positions, `env.datas[i].qpos`.

# %%
env = DIR.make_vec_env([{"direction": 1}, {"direction": -1}], 1)
env.reset(seed=0)
for t in range(20):
    before = np.array([data.qpos[0] for data in env.datas])
    actions = 1.5 * rng.standard_normal((2, 6))
    _, rewards, _, _, _ = env.step(actions)
    after = np.array([data.qpos[0] for data in env.datas])
    velocity = (after - before) / env.dt
    expected = np.array([1, -1]) * velocity - 0.05 * np.square(np.clip(actions, -1, 1)).sum(1)
    assert np.allclose(rewards, expected, rtol=1e-12, atol=1e-12)
print("reward = d v - 0.05 |clip(a)|^2 at every step; last velocities", velocity.round(2))

# %% [markdown]
# **Step 3. The half-cheetah keeps its total mass of 14 kg on MuJoCo 4.** Gymnasium's XML
# says `<compiler settotalmass="14"/>`: scale all masses and inertias so that they add up to
# 14 kg. MuJoCo 4 deprecates the attribute and warns on the console, appending the warning to
# a file `MUJOCO_LOG.TXT` in the current folder. Deleting the attribute would silently
# change the robot. The library instead parses the XML with `mujoco.MjSpec`, switches the
# compiler's rescaling off, compiles, and rescales the compiled model with
# `mujoco.mj_setTotalmass` followed by `mj_setConst` (what the compiler did), which
# reproduces gymnasium's masses and inertias exactly and says nothing.

# %%
# NBVAL_CHECK_OUTPUT
ours = VEL.robot.model
spec = mujoco.MjSpec.from_file(str(common.ASSETS / "half_cheetah.xml"))
spec.compiler.settotalmass = -1
unscaled = spec.compile()  # the robot if the attribute were simply deleted
with common.mujoco_warnings() as messages:
    theirs = mujoco.MjModel.from_xml_path(str(common.ASSETS / "half_cheetah.xml"))
assert np.array_equal(ours.body_mass, theirs.body_mass) and np.array_equal(ours.body_inertia, theirs.body_inertia)
assert abs(ours.body_mass.sum() - 14) < 1e-12 and abs(unscaled.body_mass.sum() - 14) > 7
print(f"total mass: ours {ours.body_mass.sum():.2f} kg, gymnasium's {theirs.body_mass.sum():.2f} kg, "
      f"attribute deleted {unscaled.body_mass.sum():.2f} kg")
print("MuJoCo on gymnasium's XML:", messages[0][:63] + "..." if messages else "nothing (MuJoCo 3)")

# %% [markdown]
# **Step 4. AntGoal's goals are uniform on the disc.** Drawing the radius uniformly would
# crowd goals near the centre. Uniform on the disc of radius $\rho_{max} = 3$ means
# $P(\|g\| \le \rho) = (\rho/\rho_{max})^2$ (area ratio), so the library draws
# $\rho = \rho_{max}\sqrt{w}$ with $w \sim U[0, 1]$ (then $P(\rho_{max}\sqrt{w} \le \rho) =
# P(w \le (\rho/\rho_{max})^2)$) and an angle uniform in $[0, 2\pi)$. The empirical
# distribution function of 20 000 goals' radii lies within 0.015 of $(\rho/3)^2$
# (the Kolmogorov-Smirnov bound at this size is about 0.01 at the 95% level).

# %%
goals = np.array([task["goal"] for task in FAMILIES["ant-goal"].sample_tasks(20000, rng)])
radii = np.sort(np.linalg.norm(goals, axis=1))
empirical = np.arange(1, len(radii) + 1) / len(radii)
gap = np.abs(empirical - (radii / 3) ** 2).max()
assert gap < 0.015 and radii.max() <= 3
print(f"largest gap between the empirical CDF of the radius and (r/3)^2: {gap:.4f}")

# %% [markdown]
# **Step 5. Random parameters: $\log_b$ of a multiplier is uniform on $[-3, 3]$, and every
# task starts from the defaults.** A task's model is a copy of the robot's with each array set
# to *default × multiplier*. MuJoCo's Python bindings return the model's arrays as views, so
# multiplying the live arrays for task after task would compound the factors; the library
# always multiplies the pristine defaults, then calls `mj_setConst` to recompute what depends
# on the masses. We check both: the exponents $u = \log_b m$ fill $[-3, 3]$ evenly (mean 0,
# variance $6^2/12 = 3$), and a single environment switched through four tasks and back has
# exactly the first task's model.

# %%
walker = FAMILIES["walker2d-params"]
tasks = walker.sample_tasks(200, rng)
u = np.concatenate([np.log(np.asarray(t["body_mass"])).ravel() / np.log(1.5) for t in tasks])
assert u.min() >= -3 and u.max() <= 3 and abs(u.mean()) < 0.15 and abs(u.var() - 3) < 0.2
single = gym.make(walker.ENV_ID, task=tasks[0]).unwrapped
first = single.model.body_mass.copy()
for task in tasks[1:5] + tasks[:1]:
    single.set_task(task)
assert np.array_equal(single.model.body_mass, first)
assert np.array_equal(first, walker.robot.model.body_mass * np.asarray(tasks[0]["body_mass"]))
print(f"u = log_1.5(mass multiplier): mean {u.mean():.3f}, variance {u.var():.3f} (uniform: 0 and 3)")

# %% [markdown]
# **Step 6. The Ant's contact forces are real.** MuJoCo computes the external forces on
# each body (`cfrc_ext`) only on request, through `mj_rnePostConstraint`; gymnasium's v5
# environments and ours call it after every step. An ant standing still with its feet on the
# floor must then feel contact forces, so the contact term $c$ is positive, and the AntDir
# reward, recomputed from the simulator's state, matches.

# %%
ant = FAMILIES["ant-dir"]
env = ant.make_vec_env([{"direction": [0.0, 1.0]}], 1)
env.reset(seed=0)
for t in range(30):  # zero torques: the ant settles on its legs
    before = env.datas[0].qpos[:2].copy()
    _, reward, terminated, _, _ = env.step(np.zeros((1, 8)))
data = env.datas[0]
contact = np.square(np.clip(data.cfrc_ext, -1, 1)).sum()
velocity = (data.qpos[:2] - before) / env.dt
assert contact > 0.1 and not terminated[0]
assert abs(reward[0] - (velocity[1] - 0.0005 * contact + 1)) < 1e-12
print(f"contact term c = {contact:.2f}; torso height {data.qpos[2]:.2f} m; reward {reward[0]:.4f}")

# %% [markdown]
# ## Pseudocode
#
# The library runs every episode of every task of a batch in **one** vector environment:
# $N = n_{tasks} \times$ `episodes_per_task` slots, task-major (slot $i$ runs task
# $\lfloor i / \text{episodes\_per\_task} \rfloor$), one MuJoCo model per task and one
# simulation state per slot. One step:
#
# ```
# step(actions [N, m]):
#     a = clip(actions, -1, 1)
#     for every slot i still running:              # the only loop in Python
#         data_i.ctrl = a_i
#         mj_step(model_of_task(i), data_i, frame_skip)
#         (Ant) mj_rnePostConstraint(model, data_i)  # contact forces
#         copy qpos_i, qvel_i (, cfrc_i) into arrays [N, ...]
#     rewards, healthy = family.rewards(before, after, a, task parameters [N, ...])   # NumPy, all slots
#     observations = family.observe(after)                                            # NumPy, all slots
#     slots that became unhealthy stop (terminated); at step H all are truncated
# ```
#
# The sampler feeds the $N$ observations through the $n_{tasks}$ policies in one batched
# matrix product per layer and samples $a_t = \mu_i(s_t) + \sigma_i \epsilon_t$.
#
# ## Library call
#
# A family gives tasks, a vector environment for them, and what an oracle would observe:

# %%
# NBVAL_CHECK_OUTPUT
family = RL_FAMILIES["halfcheetah-vel"]
tasks = family.sample_tasks(4, np.random.default_rng(0))
env = family.make_vec_env(tasks, episodes_per_task=10)
theta = policies.init_policy(env.single_observation_space.shape[0], env.single_action_space.shape[0], seed=0)
batch = sample_episodes(env, policies.stack([theta] * len(tasks)), horizon=family.HORIZON, seed=0)
print("tasks:", [round(t["velocity"], 3) for t in tasks], "| oracle features:", family.task_features(tasks[0]))
print("episodes:", tuple(batch.obs.shape), "observations,", tuple(batch.actions.shape), "actions,",
      tuple(batch.rewards.shape), "rewards")

# %% [markdown]
# For long training runs the slots can be spread over worker processes, each with its own
# copy of the policy; the episodes do not depend on the number of workers. The pool is meant
# to live as long as the training run (starting it costs seconds):
#
# ```python
# from metarl_lite.rl.sampler import SamplerPool
# with SamplerPool("halfcheetah-vel") as pool:          # one worker per core
#     env = pool.make_vec_env(tasks, episodes_per_task=20)
#     batch = sample_episodes(env, params, horizon=100, seed=0)
# ```
#
# ## Experiment 1: the task distributions
#
# A thousand tasks of each family. For the random-parameter families we plot the exponent
# $u = \log_b m$ of every multiplier of 200 tasks, per array.

# %%
draw = {name: family.sample_tasks(1000 if not name.endswith("params") else 200, np.random.default_rng(1))
        for name, family in FAMILIES.items()}
fig, axes = plt.subplots(1, 5, figsize=(20, 3.6))
axes[0].hist([t["velocity"] for t in draw["halfcheetah-vel"]], bins=20, color="C0")
axes[0].set(title="HalfCheetahVel", xlabel="target velocity $v^*$ (m/s)", ylabel="tasks")
directions = [t["direction"] for t in draw["halfcheetah-dir"]]
axes[1].bar(["backward (-1)", "forward (+1)"], [directions.count(-1), directions.count(1)], color="C1")
axes[1].set(title="HalfCheetahDir", xlabel="direction $d$", ylabel="tasks")
unit = np.array([t["direction"] for t in draw["ant-dir"]])
axes[2].scatter(unit[:, 0], unit[:, 1], s=3, color="C2")
axes[2].set(title="AntDir", xlabel="$d_x$", ylabel="$d_y$", aspect="equal")
goal = np.array([t["goal"] for t in draw["ant-goal"]])
axes[3].scatter(goal[:, 0], goal[:, 1], s=3, color="C3")
axes[3].set(title="AntGoal", xlabel="goal x (m)", ylabel="goal y (m)", aspect="equal")
for key, base in random_params.BASES.items():
    exponents = np.concatenate([np.log(np.asarray(t[key])).ravel() / np.log(base) for t in draw["walker2d-params"]])
    axes[4].hist(exponents, bins=24, histtype="step", label=f"{key} (b = {base})")
axes[4].set(title="Walker2dRandParams", xlabel="$u = \\log_b$ multiplier", ylabel="multipliers")
axes[4].legend(fontsize=7)
plt.tight_layout()
plt.show()
assert directions.count(1) == directions.count(-1) == 500  # stratified: both directions equally often

# %% [markdown]
# ## Experiment 2: what an untrained policy does
#
# An untrained Gaussian policy (a (64, 64) tanh network with $\sigma = 1$) on 4 tasks of each
# family, 5 episodes per task. Its behaviour does not depend on the task, since it cannot see
# it, but its *return* does. On HalfCheetahVel (below, 9 target velocities, 4 episodes each)
# the cheetah flails at a few tenths of a metre per second whatever the target, so the return
# falls with $v^*$, by roughly $H = 100$ per m/s once $v^*$ exceeds those speeds: the reward
# $-|v - v^*|$ charges every step for the missing speed.

# %%
untrained = {}
for name, family in FAMILIES.items():
    tasks = family.sample_tasks(4, np.random.default_rng(2))
    env = family.make_vec_env(tasks, 5)
    theta = policies.init_policy(env.single_observation_space.shape[0], env.single_action_space.shape[0], seed=0)
    batch = sample_episodes(env, policies.stack([theta] * 4), horizon=family.HORIZON, seed=0)
    returns = batch.rewards.sum(1).reshape(4, 5)
    untrained[name] = returns
    print(f"{name:16s} return per task {returns.mean(1).numpy().round(1)}  mean episode length "
          f"{batch.masks.sum(1).mean().item():5.1f} of {family.HORIZON}")

targets = np.linspace(0.0, 2.0, 9)
env = VEL.make_vec_env([{"velocity": float(v)} for v in targets], 4)
theta = policies.init_policy(17, 6, seed=0)
vel_returns = sample_episodes(env, policies.stack([theta] * 9), horizon=VEL.HORIZON, seed=0).rewards.sum(1)
vel_returns = vel_returns.reshape(9, 4).numpy()
assert np.corrcoef(targets, vel_returns.mean(1))[0, 1] < -0.8
assert vel_returns[-1].mean() < vel_returns[0].mean() - 0.5 * VEL.HORIZON
plt.figure(figsize=(5, 3.5))
plt.plot(np.repeat(targets, 4), vel_returns.ravel(), "o", alpha=0.6, label="untrained policy, 4 episodes/task")
plt.plot(targets, vel_returns[0].mean() - VEL.HORIZON * targets, "k--", label="slope $-H$")
plt.xlabel("target velocity $v^*$ (m/s)")
plt.ylabel("return $R$")
plt.legend()
plt.show()

# ## Experiment 3: a controller that knows the task
#
# To see how much knowing the task is worth, we build a **task-conditioned controller** for
# the half-cheetah without any policy gradient: an open-loop gait, each motor driven by
# $a_j(t) = \mathrm{clip}\big(s\,(A_j \sin(2\pi f t + \varphi_j) + c_j)\big)$, with 19
# parameters (amplitudes $A$, phases $\varphi$, offsets $c$, frequency $f$) and a scale $s$. The
# cross-entropy method (CEM) finds one gait that runs forward and one that runs backward:
# sample 40 parameter vectors from a Gaussian, run all 40 in one vector environment, refit the
# Gaussian to the best 8, repeat.

# %%
def gait_actions(params, steps, dt, scale=1.0):
    """Open-loop actions [steps, n, 6] of n gaits ``params`` [n, 19] (A, phi, c, log f) at time t = k dt."""
    t = np.arange(steps)[:, None, None] * dt
    amplitude, phase, offset, log_f = params[:, :6], params[:, 6:12], params[:, 12:18], params[:, 18:]
    return np.clip(scale * (amplitude * np.sin(2 * np.pi * np.exp(log_f) * t + phase) + offset), -1, 1)


def run_open_loop(family, tasks, actions, seed=0):
    """One episode per task (slot i runs tasks[i]) with open-loop ``actions`` [T, n, m]:
    (rewards [T, n], forward positions x [T + 1, n])."""
    env = family.make_vec_env(tasks, 1)
    env.reset(seed=seed)
    rewards, positions = [], [[data.qpos[0] for data in env.datas]]
    for a in actions:
        rewards.append(env.step(a)[1])
        positions.append([data.qpos[0] for data in env.datas])
    return np.array(rewards), np.array(positions)


def cem(direction, iterations=8, population=40, elite=8, seed=0):
    """A gait maximizing HalfCheetahDir's return for ``direction``, by the cross-entropy method."""
    generator = np.random.default_rng(seed)
    mean = np.concatenate([np.full(6, 0.5), np.zeros(12), [np.log(2.0)]])
    std = np.concatenate([np.full(18, 0.6), [0.3]])
    best = []
    for _ in trange(iterations, desc=f"CEM, d = {direction:+d}", leave=False):
        candidates = mean + std * generator.standard_normal((population, 19))
        actions = gait_actions(candidates, DIR.HORIZON, DIR.dt)
        returns = run_open_loop(DIR, [{"direction": direction}] * population, actions)[0].sum(0)
        elites = candidates[np.argsort(returns)[-elite:]]
        mean, std = elites.mean(0), elites.std(0) + 0.02
        best.append(returns.max())
    return mean, best


forward, forward_curve = cem(+1)
backward, backward_curve = cem(-1)
gaits = np.stack([forward, backward])
both = [{"direction": 1}] * 2 + [{"direction": -1}] * 2
gait_returns = run_open_loop(DIR, both, np.tile(gait_actions(gaits, DIR.HORIZON, DIR.dt), (1, 2, 1)))[0].sum(0)
table = gait_returns.reshape(2, 2)  # [task d = +1, -1] x [forward gait, backward gait]
random_dir = untrained["halfcheetah-dir"].mean().item()
print(f"forward gait: R = {table[0, 0]:.0f} on d = +1, {table[1, 0]:.0f} on d = -1")
print(f"backward gait: R = {table[0, 1]:.0f} on d = +1, {table[1, 1]:.0f} on d = -1")
print(f"untrained policy: R = {random_dir:.0f} on average")
assert table[0, 0] > 100 and table[1, 1] > 100 and table[0, 1] < -100 and table[1, 0] < -100

# %% [markdown]
# The best behaviour for one direction is the worst for the other: no single policy does
# well on HalfCheetahDir, while the **conditioned** controller (forward gait if $d = +1$,
# backward gait if $d = -1$) scores well on both. A meta-learned policy has to find $d$ from
# its first episodes, which is what one MAML step does in chapter 06's experiments.
#
# For HalfCheetahVel the scale $s$ of the forward gait sets the speed. We measure the mean
# velocity for 9 scales (one vector environment, 9 slots) and invert the curve: the
# conditioned controller for a target $v^*$ runs the gait at the scale whose velocity is $v^*$.

# %%
scales = np.linspace(0, 1, 9)
actions = np.concatenate([gait_actions(forward[None], VEL.HORIZON, VEL.dt, s) for s in scales], axis=1)
_, positions = run_open_loop(VEL, [{"velocity": 1.0}] * len(scales), actions)
speeds = (positions[-1] - positions[0]) / (VEL.HORIZON * VEL.dt)
order = np.maximum.accumulate(speeds)  # monotone envelope, so that the inverse exists
top_speed = order[-1]


def scale_for(target):
    """The gait scale s whose mean velocity is ``target`` (linear interpolation; the top speed caps it)."""
    return float(np.interp(target, order, scales))


plt.figure(figsize=(5, 3.5))
plt.plot(scales, speeds, "o-")
plt.xlabel("gait scale $s$")
plt.ylabel("mean velocity over 5 s (m/s)")
plt.show()
assert speeds[0] < 0.3 and top_speed > 1.0

# %% [markdown]
# Conditioned controller against the untrained policy on 8 target velocities. An open-loop
# gait is a crude controller (its speed oscillates within each stride, which $-|v - v^*|$
# charges), yet knowing $v^*$ is worth tens of reward points at every target; a trained
# oracle policy, which also sees the state, does far better.

# %%
targets = np.linspace(0.1, 1.9, 8)
actions = np.concatenate([gait_actions(forward[None], VEL.HORIZON, VEL.dt, scale_for(v)) for v in targets], axis=1)
conditioned = run_open_loop(VEL, [{"velocity": float(v)} for v in targets], actions)[0].sum(0)
env = VEL.make_vec_env([{"velocity": float(v)} for v in targets], 5)
random_returns = sample_episodes(env, policies.stack([theta] * 8), horizon=VEL.HORIZON, seed=0).rewards.sum(1)
random_returns = random_returns.reshape(8, 5).mean(1).numpy()
plt.figure(figsize=(5, 3.5))
plt.plot(targets, conditioned, "o-", label="task-conditioned gait")
plt.plot(targets, random_returns, "s-", label="untrained policy")
plt.xlabel("target velocity $v^*$ (m/s)")
plt.ylabel("return $R$")
plt.legend()
plt.show()
reachable = targets <= top_speed
assert (conditioned[reachable] > random_returns[reachable]).all()
print("mean return, conditioned vs untrained:", conditioned.mean().round(1), random_returns.mean().round(1))

# %% [markdown]
# ### Try it: choose the task
#
# Pick a target velocity and a direction. Left: the velocity of the task-conditioned gait
# over the episode (dashed: the target) and the untrained policy's per-step rewards against
# the gait's. Right: the HalfCheetahDir returns of the forward gait, the backward gait and the
# conditioned choice. `task_rollouts` computes what is drawn.

# %%
def task_rollouts(velocity, direction):
    """The episodes behind the widget: per-step velocity and rewards of the gait conditioned on
    ``velocity`` (HalfCheetahVel) and the untrained policy's rewards on the same task, and the
    HalfCheetahDir returns of both gaits and of the conditioned choice for ``direction``."""
    task = {"velocity": float(velocity)}
    rewards, positions = run_open_loop(VEL, [task], gait_actions(forward[None], VEL.HORIZON, VEL.dt,
                                                                 scale_for(velocity)))
    random_rewards = sample_episodes(VEL.make_vec_env([task], 1), policies.stack([theta]), horizon=VEL.HORIZON,
                                     seed=0).rewards[0].numpy()
    dir_returns = run_open_loop(DIR, [{"direction": direction}] * 2, gait_actions(gaits, DIR.HORIZON, DIR.dt))[0].sum(0)
    return {"velocity": np.diff(positions[:, 0]) / VEL.dt, "rewards": rewards[:, 0], "random_rewards": random_rewards,
            "dir_returns": {"forward gait": dir_returns[0], "backward gait": dir_returns[1],
                            "conditioned": dir_returns[0 if direction == 1 else 1]}}


def plot_task_rollouts(velocity=1.0, direction=1):
    out = task_rollouts(velocity, direction)
    time_axis = np.arange(VEL.HORIZON) * VEL.dt
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
    axes[0].plot(time_axis, out["velocity"], label="conditioned gait")
    axes[0].axhline(velocity, color="k", linestyle="--", label="target $v^*$")
    axes[0].set(xlabel="time (s)", ylabel="velocity (m/s)", title="HalfCheetahVel")
    axes[0].legend()
    axes[1].plot(time_axis, out["rewards"], label=f"conditioned gait, R = {out['rewards'].sum():.0f}")
    axes[1].plot(time_axis, out["random_rewards"], label=f"untrained, R = {out['random_rewards'].sum():.0f}")
    axes[1].set(xlabel="time (s)", ylabel="reward $r_t$", title=f"HalfCheetahVel, $v^*$ = {velocity:.2f}")
    axes[1].legend()
    axes[2].bar(list(out["dir_returns"]), list(out["dir_returns"].values()), color=["C0", "C1", "C2"])
    axes[2].set(ylabel="return $R$", title=f"HalfCheetahDir, d = {direction:+d}")
    plt.tight_layout()
    plt.show()
    return out


check = task_rollouts(0.5, -1)
assert check["dir_returns"]["conditioned"] == max(check["dir_returns"]["forward gait"], check["dir_returns"]["backward gait"])
assert check["rewards"].sum() > check["random_rewards"].sum()

# %%
# NBVAL_IGNORE_OUTPUT
interactive(plot_task_rollouts, velocity=FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="v* (m/s)"),
            direction=Dropdown(options=[("forward (+1)", 1), ("backward (-1)", -1)], value=1, description="d"))

# %% [markdown]
# ## What to remember
#
# * A task family is a distribution over reward functions (or dynamics) on one robot; the
#   observation hides the task, so only rewards reveal it.
# * Velocities are finite differences over one environment step, $\Delta t$ = timestep ×
#   frame_skip: 0.05 s for HalfCheetah and Ant, 0.008 s for Walker2d and Hopper (gymnasium v5).
# * Tasks are sampled so that they cover their set evenly: $v^* \sim U[0, 2]$, both directions
#   equally often, directions uniform on the circle, goals uniform on the disc ($\rho =
#   3\sqrt{w}$), multipliers $b^u$ with $u \sim U(-3, 3)$ applied to the pristine defaults.
# * On MuJoCo 4 the half-cheetah keeps its 14 kg through `MjSpec` and `mj_setTotalmass`, not by
#   deleting `settotalmass`; the Ant needs `mj_rnePostConstraint` for its contact forces.
# * What is best for one task can be worst for another (forward vs backward), and even a crude
#   controller that knows the task beats a task-blind policy by a wide margin: that gap is what
#   meta-learning closes from a few episodes.
# * In code: `RL_FAMILIES[name]` gives `sample_tasks`, `make_vec_env`, `task_features`;
#   `sample_episodes` runs all slots; `SamplerPool` spreads them over processes;
#   `metarl_lite.render` makes pictures and videos.
#
# ## Exercises
#
# 1. **Oracle features.** `task_features` is what an oracle policy observes. Why is the
#    direction of HalfCheetahDir a single number but AntDir's a 2-vector? What would go wrong
#    if AntDir's oracle saw the angle $u \in [0, 2\pi)$ instead?
# 2. **Uniform in the wrong way.** Sample AntGoal goals with $\rho = 3w$ instead of $3\sqrt{w}$
#    and redo step 4. Where do the goals pile up, and how large is the gap now?
# 3. **Compounding.** Write a `set_task` that multiplies `model.body_mass` in place by the new
#    task's multipliers. After switching through 10 tasks, what is the range of the walker's
#    total mass? Compare with the library's.
# 4. **A better gait.** Run CEM for HalfCheetahVel directly, for $v^* = 1$, with the reward
#    $-|v - v^*|$. Is the result better than the scaled forward gait at $v^* = 1$?
# 5. **Throughput.** Time `sample_episodes` on HalfCheetahVel with 4 × 10 slots, and then a
#    plain loop of `mujoco.mj_step` over the same 40 simulations (`benchmarks/sampler.py` does
#    this). What fraction of the time is physics?
#
# ## References
#
# * C. Finn, P. Abbeel, S. Levine. *Model-Agnostic Meta-Learning for Fast Adaptation of Deep
#   Networks.* ICML 2017. arXiv:1703.03400. (Cheetah-Vel, Cheetah-Dir, Ant-Dir, Fig. 5.)
# * J. Rothfuss, D. Lee, I. Clavera, T. Asfour, P. Abbeel. *ProMP: Proximal Meta-Policy Search.*
#   ICLR 2019. arXiv:1810.06784. (AntRandGoal, Walker2dRandParams, HopperRandParams.)
# * E. Todorov, T. Erez, Y. Tassa. *MuJoCo: A physics engine for model-based control.* IROS 2012.
# * M. Towers et al. *Gymnasium: A Standard Interface for Reinforcement Learning Environments.*
#   2024. arXiv:2407.17032. (The v5 MuJoCo environments.)
# * R. Y. Rubinstein, D. P. Kroese. *The Cross-Entropy Method.* Springer, 2004.

# %%
# NBVAL_IGNORE_OUTPUT
print(f"chapter run time: {time.perf_counter() - chapter_start:.0f} s")
