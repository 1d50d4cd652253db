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
# # 01 · The meta-learning problem
#
# **Goal.** State the meta-learning problem precisely (task distributions, support and query
# sets, meta-training and meta-testing), meet the few-shot sinusoid family that chapters 01 to
# 03 use (chapter 04 mixes it with lines), and watch the two obvious baselines fail on five
# examples: training a network *from scratch*, and *pretraining* one network on all tasks and
# then fine-tuning it. Working out
# *why* they fail, in closed form, leads straight to the meta-learning objective.
#
# ## Background
#
# In ordinary supervised learning there is one data distribution $p(x, y)$; we fit a model on
# samples from it and test it on fresh samples from the same distribution. In meta-learning
# the unit of data is a whole **task**. A task $\mathcal{T}$ is a learning problem of its own:
# here, a function $f_\mathcal{T}$ to regress, with inputs $x \sim p(x)$, outputs
# $y = f_\mathcal{T}(x)$ and the mean squared error as loss,
#
# $$\mathcal{L}_\mathcal{T}(\phi, \mathcal{D}) = \frac{1}{|\mathcal{D}|}
#   \sum_{(x, y) \in \mathcal{D}} \big(f_\phi(x) - y\big)^2 ,$$
#
# where $f_\phi$ is a network with parameters $\phi$ and $\mathcal{D}$ a set of examples.
# Tasks are drawn from a **task distribution** $p(\mathcal{T})$, and the data come in two
# splits, at two levels:
#
# * **Within a task**, a small **support set** $\mathcal{D}^{tr}_\mathcal{T}$ of $K$ examples
#   ("$K$-shot"), which the learner may use to adapt to the task, and a **query set**
#   $\mathcal{D}^{te}_\mathcal{T}$ of fresh examples of the *same* task, on which the adapted
#   model is scored. (Some papers say *train/test set of a task*; same thing.)
# * **Across tasks**, **meta-training tasks**, on which we may learn whatever carries over
#   between tasks (an initialization $\theta$, a step size, an architecture), and
#   **meta-test tasks**, new tasks never seen during meta-training. A method is judged by one
#   number: on meta-test tasks, given only $\mathcal{D}^{tr}$, how low is the query loss?
#
# | ordinary learning | meta-learning |
# |---|---|
# | an example $(x, y)$ | a task $\mathcal{T} \sim p(\mathcal{T})$ with its $\mathcal{D}^{tr}$, $\mathcal{D}^{te}$ |
# | training set | meta-training tasks |
# | test set | meta-test tasks |
# | learn parameters $\phi$ | learn how to produce $\phi$ from $\mathcal{D}^{tr}$ (for MAML: learn $\theta$, then take one gradient step of size $\alpha$ on the support set, $\phi = \theta - \alpha\nabla_\theta\mathcal{L}_\mathcal{T}(\theta, \mathcal{D}^{tr})$) |
#
# **The sinusoid family** (Finn et al., 2017, Sec. 5.1) is the "MNIST" of gradient-based
# meta-learning. A task is a sine wave with its own amplitude $A$ and phase $\varphi$:
#
# $$f_\mathcal{T}(x) = A \sin(x - \varphi), \qquad A \sim U[0.1, 5], \quad
#   \varphi \sim U[0, \pi], \quad x \sim U[-5, 5].$$
#
# All tasks share one shape; only two numbers differ. With $K = 5$ points of a new task, can a
# network recover the whole curve?

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.func import vmap
from tqdm.auto import tqdm

import metarl_lite
from metarl_lite.meta import maml_objective
from metarl_lite.nn import init_mlp, mlp
from metarl_lite.tasks import Sinusoid
from metarl_lite.widgets import adaptation_widget

rng = metarl_lite.seed_everything(0)
# Independent random streams: meta-training tasks, validation tasks (to choose a step size),
# meta-test tasks, and Monte-Carlo checks. Changing one experiment leaves the others' data alone.
train_rng, val_rng, test_rng, mc_rng = rng.spawn(4)

family = Sinusoid()
SIZES = [1, 40, 40, 1]  # the MLP of Finn et al.: 1 input, two hidden layers of 40 ReLUs, 1 output
K = 5  # shots: support points per task
QUERY = 100  # query points per task
grid = np.linspace(*family.x_range, 201)  # 201 inputs for drawing functions (float64)
x_grid = torch.tensor(grid, dtype=torch.float32).unsqueeze(-1)  # the same inputs for the network: [201, 1]


def mse(params, batch):
    """L(phi, D) = mean over D of (f_phi(x) - y)^2, for a batch (x [n, 1], y [n, 1])."""
    x, y = batch
    return ((mlp(params, x) - y) ** 2).mean()


def stack(batches):
    """A list of (x, y) batches -> (x, y) stacked along a new first (task) dimension."""
    return tuple(torch.stack(column) for column in zip(*batches))


def sample_split(tasks, rng):
    """Support (K points) and query (QUERY points) sets of each task, stacked: x, y of shape [tasks, n, 1]."""
    supports = [task.sample(K, rng) for task in tasks]
    queries = [task.sample(QUERY, rng) for task in tasks]
    return stack(supports), stack(queries)


train_tasks = family.sample_tasks(4000, train_rng)  # meta-training tasks
test_tasks = family.sample_tasks(500, test_rng)  # meta-test tasks, never trained on
test_support, test_query = sample_split(test_tasks, test_rng)

# %% [markdown]
# Here are both levels of the split. On the left, each dot is one task, located by its two
# numbers $(A, \varphi)$: meta-training tasks and meta-test tasks come from the same
# distribution, but they are different tasks. On the right, six meta-test tasks as functions;
# for the first, the $K = 5$ support points a learner is given and the query points on which
# it will be judged.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 1.6]})
left.scatter([t.amplitude for t in train_tasks[:300]], [t.phase for t in train_tasks[:300]],
             s=8, alpha=0.6, label=f"meta-training tasks (300 of {len(train_tasks)})")
left.scatter([t.amplitude for t in test_tasks[:50]], [t.phase for t in test_tasks[:50]],
             s=30, marker="x", color="C3", label=f"meta-test tasks (50 of {len(test_tasks)})")
left.set(xlabel="amplitude A", ylabel="phase φ (rad)", title="task space: one point per task")
left.legend(loc="upper right", fontsize="small", framealpha=0.9)

for i, task in enumerate(test_tasks[:6]):
    right.plot(grid, task(grid), color=f"C{i}", linewidth=2.5 if i == 0 else 1, alpha=1 if i == 0 else 0.5)
right.scatter(test_query[0][0], test_query[1][0], s=8, color="C0", alpha=0.4, label="query set of task 0 (100 points)")
right.scatter(test_support[0][0], test_support[1][0], s=80, color="black", zorder=3,
              label=f"support set of task 0 (K = {K})")
right.set(xlabel="input x", ylabel="output y", title="six meta-test tasks: one curve each")
right.legend(loc="lower left", fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Key equations
#
# Three ways to produce parameters $\phi$ for a new task from its support set:
#
# 1. **From scratch.** Start at a random $\phi_0$ and run an optimizer (many steps) from
#    $\phi_0$ towards a minimizer of $\mathcal{L}_\mathcal{T}(\phi, \mathcal{D}^{tr})$ (there are
#    infinitely many; $\phi_0$ decides which one is reached). Nothing is learned from the other
#    tasks.
# 2. **Pretrain, then fine-tune.** Fit one network to all meta-training tasks pooled
#    together, ignoring which task an example came from,
#    $$\theta_{pre} = \arg\min_\theta \; \mathbb{E}_{\mathcal{T}}\,
#      \mathbb{E}_{x}\big[(f_\theta(x) - f_\mathcal{T}(x))^2\big],$$
#    then fine-tune on the support set with $k$ gradient steps of size $\alpha$:
#    $\phi_{j+1} = \phi_j - \alpha \nabla_\phi \mathcal{L}_\mathcal{T}(\phi_j, \mathcal{D}^{tr})$,
#    $\phi_0 = \theta_{pre}$.
# 3. **Meta-learning.** Choose $\theta$ for what actually matters, the query loss *after*
#    adaptation, on average over tasks:
#    $$\min_\theta \; \mathbb{E}_{\mathcal{T} \sim p(\mathcal{T})} \Big[
#      \mathcal{L}_\mathcal{T}\big(\mathrm{Adapt}(\theta, \mathcal{D}^{tr}_\mathcal{T}),\,
#      \mathcal{D}^{te}_\mathcal{T}\big) \Big].$$
#
# Pretraining is the meta-learning objective with $\mathrm{Adapt}(\theta, \cdot) = \theta$
# (zero steps): it never asks $\theta$ to be *adaptable*. The derivation below computes
# exactly what pretraining learns on sinusoids, and how good that can be. Two facts carry it:
#
# $$\mathbb{E}_\mathcal{T}[f_\mathcal{T}(x)] = -\frac{2}{\pi}\,\mathbb{E}[A]\cos x ,
#   \qquad
#   \mathbb{E}_{\mathcal{T}, x}\big[f_\mathcal{T}(x)^2\big] = \frac{\mathbb{E}[A^2]}{2}.$$

# %% [markdown]
# ## Derivation
#
# Each step states a fact; the cell after it checks the fact against a Monte-Carlo estimate
# from $N = 200\,000$ tasks of `Sinusoid`, each with one input $x$ (Step 3 uses the first
# 20 000 of them, each on a grid of 201 inputs). A Monte-Carlo mean has a
# standard error $\hat\sigma / \sqrt{N}$; we assert agreement within 4 standard errors (a
# correct formula fails one such check for about one seed in 16 000; a formula off by many
# standard errors fails it).

# %%
N_MC = 200_000
mc_tasks = family.sample_tasks(N_MC, mc_rng)
A = np.array([task.amplitude for task in mc_tasks])
PHASE = np.array([task.phase for task in mc_tasks])
X = mc_rng.uniform(*family.x_range, size=N_MC)
Y = A * np.sin(X - PHASE)  # one example (x, y) per task
a, b = family.amplitude_range
half_width = family.x_range[1]  # x ~ U[-5, 5]


def check_mc(name, closed_form, samples):
    """Assert that the mean of samples agrees with closed_form within 4 standard errors."""
    mean, stderr = samples.mean(), samples.std() / math.sqrt(len(samples))
    print(f"{name}: closed form {closed_form:.4f}, Monte Carlo {mean:.4f} ± {stderr:.4f}")
    assert abs(mean - closed_form) < 4 * stderr, f"{name}: {closed_form} vs {mean} ± {stderr}"


# %% [markdown]
# **Step 1. The amplitude's moments.** For $A \sim U[a, b]$,
# $\mathbb{E}[A] = \frac{a + b}{2}$ and
# $\mathbb{E}[A^2] = \frac{1}{b - a}\int_a^b A^2\, dA = \frac{b^3 - a^3}{3(b - a)} = \frac{a^2 + ab + b^2}{3}$.

# %%
mean_A = (a + b) / 2
mean_A2 = (a * a + a * b + b * b) / 3
check_mc("E[A]  ", mean_A, A)
check_mc("E[A^2]", mean_A2, A**2)

# %% [markdown]
# **Step 2. How spread out the tasks are: the MSE of predicting 0.** A learner that predicts
# $\hat y = 0$ everywhere has expected error
# $\mathbb{E}[y^2] = \mathbb{E}[A^2]\;\mathbb{E}_{x,\varphi}[\sin^2(x - \varphi)]$
# ($A$ is independent of $x$ and $\varphi$). For any fixed $x$, $\sin^2(x - \varphi)$ has
# period $\pi$ in $\varphi$, and $\varphi$ is uniform over exactly one period, so its mean is
# the mean of $\sin^2$ over a period, $\tfrac12$. Hence
#
# $$\mathbb{E}[y^2] = \frac{\mathbb{E}[A^2]}{2}.$$
#
# This is the yardstick for every method below: an MSE near $\mathbb{E}[A^2]/2 \approx 4.25$
# means nothing was learned about the task.

# %%
mse_zero = mean_A2 / 2
check_mc("MSE of predicting 0", mse_zero, Y**2)

# %% [markdown]
# **Step 3. The mean function.** Averaging over tasks at a fixed input $x$, with $A$ and
# $\varphi$ independent,
#
# $$m(x) = \mathbb{E}_\mathcal{T}[f_\mathcal{T}(x)]
#   = \mathbb{E}[A]\,\frac{1}{\pi}\int_0^\pi \sin(x - \varphi)\, d\varphi
#   = \mathbb{E}[A]\,\frac{1}{\pi}\Big[\cos(x - \varphi)\Big]_{\varphi=0}^{\pi}
#   = \mathbb{E}[A]\,\frac{\cos(x - \pi) - \cos x}{\pi}
#   = -\frac{2}{\pi}\,\mathbb{E}[A]\cos x .$$
#
# The sines cancel only partly: the phases cover half a period, so on average the tasks lean
# towards $-\cos x$, with amplitude $\frac{2}{\pi}\cdot 2.55 \approx 1.62$. We check the
# integral by quadrature (a deterministic check, tight tolerance) and the whole expectation
# with Monte Carlo at every point of a grid.

# %%
def mean_function(x):
    """m(x) = E_T[f_T(x)] = -(2 / pi) E[A] cos x, for an array or a tensor x."""
    cos = torch.cos if isinstance(x, torch.Tensor) else np.cos
    return -(2 / math.pi) * mean_A * cos(x)


phases = np.linspace(0, math.pi, 20_001)
quadrature = np.trapezoid(np.sin(grid[:, None] - phases), phases, axis=1) / math.pi
assert np.abs(quadrature - (-(2 / math.pi) * np.cos(grid))).max() < 1e-8

f_grid = A[:20_000, None] * np.sin(grid - PHASE[:20_000, None])  # [20 000 tasks, 201 inputs]
mc_mean = f_grid.mean(0)
mc_stderr = f_grid.std(0) / math.sqrt(len(f_grid))
z = np.abs(mc_mean - mean_function(grid)) / mc_stderr
print(f"largest deviation: {z.max():.2f} standard errors over {len(grid)} inputs")
assert z.max() < 4.5  # 201 inputs: allow a little more than for a single comparison

# %% [markdown]
# **Step 4. The best predictor that is the same for every task.** Suppose a learner must use
# one function $g(x)$ for all tasks (it is not told the task). For each $x$, split
# $f_\mathcal{T}(x) - g(x) = \big(f_\mathcal{T}(x) - m(x)\big) + \big(m(x) - g(x)\big)$; the
# cross term averages to zero over tasks because $\mathbb{E}_\mathcal{T}[f_\mathcal{T}(x) - m(x)] = 0$, so
#
# $$\mathbb{E}_{\mathcal{T},x}\big[(f_\mathcal{T}(x) - g(x))^2\big]
#   = \underbrace{\mathbb{E}_{\mathcal{T},x}\big[(f_\mathcal{T}(x) - m(x))^2\big]}_{\text{no } g \text{ can remove this}}
#   + \mathbb{E}_x\big[(m(x) - g(x))^2\big].$$
#
# The best task-agnostic predictor is $g = m$, and its error is what remains of Step 2 after
# removing the mean: with $\mathbb{E}_x[\cos^2 x] = \frac{1}{10}\int_{-5}^{5}\cos^2 x\,dx
# = \frac12 + \frac{\sin 10}{20}$ for $x \sim U[-5, 5]$,
#
# $$\mathrm{MSE}(m) = \frac{\mathbb{E}[A^2]}{2} - \mathbb{E}_x\big[m(x)^2\big]
#   = \frac{\mathbb{E}[A^2]}{2} - \frac{4}{\pi^2}\,\mathbb{E}[A]^2
#     \Big(\frac12 + \frac{\sin 10}{20}\Big).$$
#
# We check the value, and the decomposition itself on $g = 0.5\,m$ (which should pay
# exactly $\mathbb{E}_x[(0.5\,m)^2]$ more).

# %%
mean_cos2 = 0.5 + math.sin(2 * half_width) / (4 * half_width)
mse_mean = mse_zero - (2 / math.pi) ** 2 * mean_A**2 * mean_cos2
check_mc("MSE of m(x)", mse_mean, (Y - mean_function(X)) ** 2)
check_mc("MSE of 0.5 m(x)", mse_mean + (2 / math.pi) ** 2 * (0.5 * mean_A) ** 2 * mean_cos2,
         (Y - 0.5 * mean_function(X)) ** 2)
print(f"the best task-agnostic predictor removes {1 - mse_mean / mse_zero:.0%} of the error of predicting 0")

# %% [markdown]
# So **no network that ignores the task can do better than $\mathrm{MSE} \approx 3.01$ on new
# tasks** (on the finite pool it was trained on, a network can go slightly lower), barely
# better than knowing nothing ($4.25$). Whatever a good learner does, it must use the support
# set.
#
# **Step 5. Five points are plenty, if you know the family.** Expand the sine:
#
# $$A\sin(x - \varphi) = (A\cos\varphi)\,\sin x + (-A\sin\varphi)\,\cos x .$$
#
# Every task is a linear combination of the same two features $\sin x$ and $\cos x$. Least
# squares on these two features from the $K = 5$ support points (5 equations, 2 unknowns)
# recovers the task *exactly* and predicts the query set with zero error. The information is in
# the five points; what a neural network lacks is the knowledge of the family, which only the
# *other* tasks can teach it.

# %%
def features(x):
    """The two features every task is a combination of: [sin x, cos x], shape [..., n, 2]."""
    return torch.cat([torch.sin(x), torch.cos(x)], dim=-1)


x_support, y_support = (t.double() for t in test_support)
coefficients = torch.linalg.lstsq(features(x_support), y_support).solution  # [tasks, 2, 1]
x_query, y_query = (t.double() for t in test_query)
mse_family = ((features(x_query) @ coefficients - y_query) ** 2).mean((1, 2))  # [tasks]
amplitude = coefficients[:, :, 0].norm(dim=1)
true_amplitude = torch.tensor([t.amplitude for t in test_tasks], dtype=torch.float64)
print(f"query MSE knowing the family, from K = {K} points: {mse_family.mean():.1e} (largest {mse_family.max():.1e})")
assert mse_family.max() < 1e-10 and torch.allclose(amplitude, true_amplitude, atol=1e-5)

# %% [markdown]
# The closed-form yardsticks of this chapter, all computed above:

# %%
# NBVAL_CHECK_OUTPUT
print(f"E[A] = {mean_A:.4f},  E[A^2] = {mean_A2:.4f}")
print(f"MSE of predicting 0            E[A^2]/2 = {mse_zero:.4f}")
print(f"MSE of the mean function m(x)            = {mse_mean:.4f}")
print("MSE knowing the family (sin, cos)        = 0")

# %% [markdown]
# ## Pseudocode
#
# The evaluation protocol is the same for every method. Only the way $\theta$ is obtained
# (and how $\mathrm{Adapt}$ works) differs.
#
# ```
# Meta-test evaluation of a method (theta, Adapt):
#     for each meta-test task T (never seen in meta-training):
#         D_tr <- K points of T;  D_te <- 100 fresh points of T
#         phi  <- Adapt(theta, D_tr)
#         record L_T(phi, D_te)
#     report the mean over tasks (and its confidence interval)
#
# From scratch:  theta = random init;  Adapt = many Adam steps on D_tr
# Pretrained:    theta = argmin of the pooled loss over all meta-training examples;
#                Adapt = k gradient steps of size alpha on D_tr (fine-tuning)
# Meta-learned:  theta = argmin E_T[ L_T(Adapt(theta, D_tr), D_te) ]     (chapter 02)
# ```
#
# ## Library call
#
# * `Sinusoid().sample_tasks(n, rng)` draws tasks; `task.sample(k, rng)` draws `(x, y)` of shape
#   `[k, 1]`; `task(x)` is the true function.
# * `init_mlp(SIZES, seed=s)` and `mlp(params, x)`: the network as a pure function of a parameter
#   dictionary, so `torch.func.vmap(mse)` trains many independent networks in one call.
# * `maml_objective(mse, theta, tasks, lr=alpha, steps=k)` is the meta-learning objective
#   itself: the mean query loss after $k$ gradient steps of size $\alpha$ on each task's support
#   set. With `steps=0` it is the plain query loss of $\theta$ (the pretraining objective
#   evaluated on the query sets). We use it below to *evaluate* fine-tuning; chapter 02 will
#   *minimize* it.
#
# ## Experiment (a): learning from scratch on $K = 5$ points
#
# The network 1-40-40-1 has $40 + 40 + 40\cdot40 + 40 + 40 + 1 = 1761$ parameters and the
# support set gives 5 equations. Infinitely many networks fit the 5 points exactly; nothing
# tells the optimizer which one continues the curve correctly. We train one network per task
# for 50 meta-test tasks, each from its own random initialization with Adam (step size
# $10^{-2}$, 300 steps), all at once: `vmap` runs the 50 independent networks as one batch,
# and since Adam updates every coordinate separately and task $i$'s loss depends only on
# network $i$, minimizing the sum of the 50 losses trains each network exactly as if alone.

# %%
assert sum(p.numel() for p in init_mlp(SIZES, seed=0).values()) == 40 + 40 + 40 * 40 + 40 + 40 + 1

N_SCRATCH, SCRATCH_STEPS = 50, 300
support_s = tuple(t[:N_SCRATCH] for t in test_support)
query_s = tuple(t[:N_SCRATCH] for t in test_query)
inits = [init_mlp(SIZES, seed=i) for i in range(N_SCRATCH)]
scratch = {name: torch.stack([p[name].detach() for p in inits]).requires_grad_() for name in inits[0]}  # [tasks, ...]
task_losses = vmap(mse)  # (stacked params, stacked batch) -> [tasks]
optimizer = torch.optim.Adam(scratch.values(), lr=1e-2)
curve = []  # (support MSE, query MSE), each [tasks], after every step
for step in tqdm(range(SCRATCH_STEPS), desc="from scratch"):
    optimizer.zero_grad()
    support_losses = task_losses(scratch, support_s)
    support_losses.sum().backward()
    optimizer.step()
    with torch.no_grad():
        curve.append((task_losses(scratch, support_s), task_losses(scratch, query_s)))
support_curve = torch.stack([s for s, _ in curve]).numpy()  # [steps, tasks]
query_curve = torch.stack([q for _, q in curve]).numpy()
scratch_support, scratch_query = support_curve[-1], query_curve[-1]  # [tasks]

# The same 50 tasks and query points, for the yardsticks of the derivation:
zero_query = (query_s[1] ** 2).mean((1, 2)).numpy()
mean_query = ((mean_function(query_s[0]) - query_s[1]) ** 2).mean((1, 2)).numpy()
print(f"support MSE {scratch_support.mean():.4f}, query MSE {scratch_query.mean():.2f} "
      f"(median {np.median(scratch_query):.2f}); on the same tasks, predicting 0 gives {zero_query.mean():.2f}, "
      f"the mean function {mean_query.mean():.2f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
examples = [i for i, task in enumerate(test_tasks[:N_SCRATCH]) if task.amplitude > 2][:2]  # two clear cases
for ax, i in zip(axes[:2], examples):
    with torch.no_grad():
        fit = mlp({name: value[i] for name, value in scratch.items()}, x_grid)
    ax.plot(grid, test_tasks[i](grid), color="black", linewidth=2, label="true function")
    ax.plot(grid, fit.ravel(), color="C3", label="network trained from scratch")
    ax.scatter(support_s[0][i], support_s[1][i], s=80, color="black", zorder=3, label=f"support set (K = {K})")
    ax.set(xlabel="input x", ylabel="output y", title=f"meta-test task {i}: query MSE {scratch_query[i]:.2f}")
fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, bbox_to_anchor=(0.34, 0))
steps = np.arange(1, SCRATCH_STEPS + 1)
axes[2].semilogy(steps, support_curve.mean(1), label="support MSE (the 5 training points)")
axes[2].semilogy(steps, query_curve.mean(1), label="query MSE (100 fresh points)")
axes[2].axhline(zero_query.mean(), color="gray", linestyle="--", label="predicting 0")
axes[2].axhline(mean_query.mean(), color="gray", linestyle=":", label="mean function m(x)")
axes[2].set(xlabel="Adam step", ylabel="MSE (mean over 50 tasks)", title="training from scratch overfits")
axes[2].legend(fontsize="small")
fig.suptitle("from scratch, a network fits the 5 points, not the task")
plt.tight_layout(rect=(0, 0.07, 1, 1))
plt.show()

# %% [markdown]
# The network memorizes its five points (support MSE near zero) while its error on the rest
# of the curve ends up, on average, *worse than predicting zero* (the average is dominated by
# the tasks where it goes badly wrong; compare the mean and the median): between the points it
# interpolates with whatever shape ReLUs and the random initialization happen to give, and,
# far from the points, extrapolates along straight lines (a ReLU network is piecewise
# linear). More steps or another optimizer cannot fix this: the five points do not contain
# the shape of the family.

# %%
assert scratch_support.mean() < 0.05, "the networks should fit their 5 support points"
assert scratch_query.mean() > 50 * scratch_support.mean(), "query error should dwarf support error"
assert scratch_query.mean() > zero_query.mean(), "on average, from scratch should do worse than predicting 0"
assert np.median(scratch_query) < scratch_query.mean(), "a few wild fits should dominate the mean"

# %% [markdown]
# ## Experiment (b): pretrain on all tasks, then fine-tune
#
# Now use the meta-training tasks: 4000 tasks with 10 points each, pooled into one data set
# of 40 000 examples $(x, y)$, which forgets which example came from which task. We fit one
# network to it with Adam (minibatches of 500, step size $3\cdot10^{-3}$ annealed to 0 over
# 2000 steps, the cosine schedule). Step 4 predicts the outcome: the best any such network can
# do is the mean function $m(x) = -\frac{2}{\pi}\mathbb{E}[A]\cos x$, at $\mathrm{MSE} \approx 3.01$.

# %%
pooled = [task.sample(10, train_rng) for task in train_tasks]
x_pool = torch.cat([x for x, _ in pooled])  # [40 000, 1]
y_pool = torch.cat([y for _, y in pooled])
pretrained = init_mlp(SIZES, seed=1000)
PRETRAIN_STEPS, BATCH = 2000, 500
optimizer = torch.optim.Adam(pretrained.values(), lr=3e-3)
schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, PRETRAIN_STEPS)
batches = torch.Generator().manual_seed(0)
pool_curve = []  # (step, MSE on the whole pool)
for step in tqdm(range(PRETRAIN_STEPS), desc="pretraining"):
    index = torch.randint(len(x_pool), (BATCH,), generator=batches)
    optimizer.zero_grad()
    mse(pretrained, (x_pool[index], y_pool[index])).backward()
    optimizer.step()
    schedule.step()
    if step % 50 == 49:
        with torch.no_grad():
            pool_curve.append((step + 1, mse(pretrained, (x_pool, y_pool)).item()))
theta_pre = {name: value.detach() for name, value in pretrained.items()}

with torch.no_grad():
    f_pre = mlp(theta_pre, x_grid).numpy().ravel()  # [201]
    mean_on_pool = ((mean_function(x_pool) - y_pool) ** 2).mean().item()  # m(x) on the same 40 000 examples
train_average = np.mean([task(grid) for task in train_tasks], axis=0)  # Monte Carlo: mean of the training tasks


def rms(difference):
    """Root mean square over the grid, a distance between two functions on [-5, 5]."""
    return float(np.sqrt(np.mean(difference**2)))


print(f"pooled MSE: pretrained network {pool_curve[-1][1]:.3f}, mean function m(x) {mean_on_pool:.3f}")
print(f"RMS distance on [-5, 5]: network to m(x) {rms(f_pre - mean_function(grid)):.3f}, "
      f"network to the average of the training tasks {rms(f_pre - train_average):.3f}, "
      f"that average to m(x) {rms(train_average - mean_function(grid)):.3f}")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4))
left.plot(*zip(*pool_curve), label="pretrained network")
left.axhline(mean_on_pool, color="C3", linestyle="--", label="mean function m(x) (the best possible)")
left.axhline(mse_zero, color="gray", linestyle=":", label="predicting 0, E[A²]/2")
left.set(xlabel="Adam step", ylabel="MSE on the pooled meta-training data", title="pretraining hits the floor of Step 4")
left.legend(fontsize="small")
for i, task in enumerate(train_tasks[:30]):
    right.plot(grid, task(grid), color="gray", alpha=0.25, linewidth=0.8, label="meta-training tasks" if i == 0 else None)
right.plot(grid, train_average, color="C2", linewidth=2,
           label=f"average of the {len(train_tasks)} training tasks (Monte Carlo)")
right.plot(grid, mean_function(grid), color="C3", linestyle="--", linewidth=2, label="closed form -(2/π) E[A] cos x")
right.plot(grid, f_pre, color="C0", linewidth=2, label="pretrained network")
right.set(xlabel="input x", ylabel="output y", ylim=(-5.5, 8), title="the pretrained network learns the mean task")
right.legend(fontsize="small", loc="upper left", ncol=2)
plt.tight_layout()
plt.show()

# %% [markdown]
# The pretrained network lands on the floor of Step 4 and draws the closed-form mean function.
# Precisely, it draws the average of the tasks it was trained on, which differs from
# $m(x)$ by Monte-Carlo error: every task is a combination of $\sin x$ and $\cos x$, so the
# average of $n$ tasks is $m(x)$ plus a random sinusoid of root-mean-square size about
# $\sqrt{\mathrm{MSE}(m) / n} \approx 0.03$ for $n = 4000$ pretraining tasks (Step 4 gives the
# variance).
# The network has learned the one thing the tasks have in common *on average*, and
# averaging has washed out everything that distinguishes them.

# %%
mc_error = math.sqrt(mse_mean / len(train_tasks))  # expected RMS distance of the training average to m(x)
assert abs(pool_curve[-1][1] - mean_on_pool) < 0.1, "pretraining should reach the MSE of m(x), up to finite-sample error"
assert rms(f_pre - train_average) < 0.1, "the pretrained network should draw the average of its training tasks"
assert rms(train_average - mean_function(grid)) < 3 * mc_error, "the training average should be m(x) up to MC error"
assert rms(f_pre - mean_function(grid)) < 0.15, "the pretrained network should be close to m(x)"

# %% [markdown]
# **Fine-tuning.** Now adapt $\theta_{pre}$ to each meta-test task with $k$ gradient steps of
# size $\alpha$ on its $K = 5$ support points, and score the query loss. To be fair to the
# baseline, $\alpha$ is chosen from a grid on 200 separate *validation* tasks, by the query MSE
# after 10 steps. `maml_objective(mse, theta_pre, tasks, lr=alpha, steps=k)` computes exactly
# this mean query loss after adaptation, for all tasks in one batched call.
#
# For error bars we split the 500 meta-test tasks into 10 chunks of 50 and use the spread of
# the 10 chunk means. With so few means, the 95% interval is the mean $\pm\, t_9 \cdot$ standard
# error, where $t_9 = 2.262$ is the 97.5% quantile of Student's $t$ distribution with 9 degrees
# of freedom (the normal 1.96 would be too narrow); `t_quantile_975` computes it by integrating
# the $t$ density.

# %%
LR_GRID = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02)
MAX_STEPS = 10


def as_tasks(support, query):
    """Stacked support and query sets -> a list of (support, query) pairs, the input of maml_objective."""
    return [((xs, ys), (xq, yq)) for xs, ys, xq, yq in zip(*support, *query)]


def t_quantile_975(dof):
    """The 97.5% quantile of Student's t with dof degrees of freedom (trapezoidal CDF of its density):
    a 95% interval for the mean of dof + 1 values is mean ± t_quantile_975(dof) * standard error."""
    t = np.linspace(0, 100, 1_000_001)
    density = (math.exp(math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2)) / math.sqrt(dof * math.pi)
               * (1 + t**2 / dof) ** (-(dof + 1) / 2))
    cdf = 0.5 + np.concatenate([[0.0], np.cumsum(np.diff(t) * (density[1:] + density[:-1]) / 2)])
    return float(np.interp(0.975, cdf, t))


assert abs(t_quantile_975(9) - 2.262) < 1e-3, "t_9 = 2.262 in every table of Student's t"


def finetune_curve(tasks, lr):
    """Mean query MSE after k = 0 .. MAX_STEPS fine-tuning steps of size lr from theta_pre."""
    return np.array([maml_objective(mse, theta_pre, tasks, lr=lr, steps=k).item() for k in range(MAX_STEPS + 1)])


val_tasks = as_tasks(*sample_split(family.sample_tasks(200, val_rng), val_rng))
val_curves = {lr: finetune_curve(val_tasks, lr) for lr in tqdm(LR_GRID, desc="step sizes")}
best_lr = min(LR_GRID, key=lambda lr: val_curves[lr][-1])

# Meta-test tasks in 10 chunks of 50: the spread of the 10 chunk means gives a standard error.
chunks = [as_tasks(tuple(t[i:i + 50] for t in test_support), tuple(t[i:i + 50] for t in test_query))
          for i in range(0, len(test_tasks), 50)]
chunk_curves = np.array([finetune_curve(chunk, best_lr) for chunk in chunks])  # [10, MAX_STEPS + 1]
test_curve = chunk_curves.mean(0)
test_stderr = chunk_curves.std(0, ddof=1) / math.sqrt(len(chunks))
test_ci95 = t_quantile_975(len(chunks) - 1) * test_stderr
print(f"chosen alpha = {best_lr}; query MSE on {len(test_tasks)} meta-test tasks after k = 0, 1, 5, 10 steps: "
      + ", ".join(f"{test_curve[k]:.2f} ± {test_ci95[k]:.2f}" for k in (0, 1, 5, 10)))

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4))
for lr, values in val_curves.items():
    left.plot(range(MAX_STEPS + 1), values, marker="o", markersize=3, label=f"α = {lr}")
left.axhline(mse_mean, color="C3", linestyle="--", label="mean function m(x)")
left.axhline(mse_zero, color="gray", linestyle=":", label="predicting 0")
left.set(xlabel="fine-tuning steps k", ylabel="query MSE (200 validation tasks)", ylim=(-0.2, 4.6),
         title="no step size rescues fine-tuning")
left.legend(fontsize="small", ncol=2)
right.errorbar(range(MAX_STEPS + 1), test_curve, yerr=test_ci95, marker="o", capsize=3,
               label=f"pretrained + fine-tuning (α = {best_lr})")
right.axhline(mse_zero, color="gray", linestyle=":", label=f"predicting 0: {mse_zero:.2f}")
right.axhline(mse_mean, color="C3", linestyle="--", label=f"mean function m(x): {mse_mean:.2f}")
right.axhline(0, color="C2", label="knowing the family (sin, cos): 0")
right.set(xlabel="fine-tuning steps k", ylabel="query MSE (500 meta-test tasks, 95% CI)", ylim=(-0.2, 4.6),
          title=f"fine-tuning on K = {K} points helps little")
right.legend(fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# The smallest step size lowers the error slowly and steadily (it is still falling after ten
# steps); larger ones overshoot (the support loss of five points is sharply curved in some
# parameter directions) and the error *rises*: with the largest, it ends above where it
# started. The best step size removes a small fraction of the error and stays far from what
# five points allow (zero, Step 5).
# $\theta_{pre}$ was trained to be right *on average*, never to be a good place to *start
# learning from*.

# %%
assert abs(test_curve[0] - mse_mean) < 3 * test_stderr[0], "before fine-tuning, the pretrained net is m(x)"
assert test_curve[MAX_STEPS] < test_curve[0], "fine-tuning should help a little"
assert test_curve[MAX_STEPS] > 0.7 * test_curve[0], "fine-tuning should remove less than 30% of the error"
assert all(val_curves[lr][MAX_STEPS] > 0.7 * val_curves[lr][0] for lr in LR_GRID), "no step size should do much better"
assert np.all(np.diff(val_curves[LR_GRID[0]]) < 0), "the smallest step size should lower the error at every step"
assert val_curves[LR_GRID[-1]][MAX_STEPS] > val_curves[LR_GRID[-1]][0], "the largest should end above its start"

# %% [markdown]
# ### Try it: fine-tune by hand
#
# The sliders below set the step size $\alpha$ (log scale) and the number of steps $k$ for one
# meta-test task, starting from the pretrained network and from a random initialization.
# Dashed lines are the networks before adaptation, solid lines after; the legend gives the
# query MSE. Can you find an $(\alpha, k)$ that makes either one match the curve?

# %%
# NBVAL_IGNORE_OUTPUT
slider = adaptation_widget({"pretrained": theta_pre, "random init": init_mlp(SIZES, seed=2000)}, test_tasks[0],
                           lr=best_lr, steps=5, shots=K, seed=0)
slider

# %% [markdown]
# ### Summary of the experiment
#
# The same 50 meta-test tasks, the same support and query points, every method:

# %%
with torch.no_grad():
    pretrained_query = vmap(mse, in_dims=(None, 0))(theta_pre, query_s).numpy()
finetuned_query = np.array([maml_objective(mse, theta_pre, [task], lr=best_lr, steps=MAX_STEPS).item()
                            for task in as_tasks(support_s, query_s)])
summary = {
    "predicting 0": zero_query,
    f"from scratch\n({SCRATCH_STEPS} Adam steps)": scratch_query,
    "mean function\nm(x), closed form": mean_query,
    "pretrained,\n0 steps": pretrained_query,
    f"pretrained,\n{MAX_STEPS} steps α = {best_lr}": finetuned_query,
    "knowing the family\n(least squares)": mse_family[:N_SCRATCH].numpy(),
}
fig, ax = plt.subplots(figsize=(11, 4))
means = [values.mean() for values in summary.values()]
errors = [t_quantile_975(len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)) for values in summary.values()]
labels = [f"{name}\nMSE {mean:.2f}" for name, mean in zip(summary, means)]
ax.bar(labels, means, yerr=errors, capsize=4, color=["gray", "C3", "gray", "C0", "C0", "C2"])
ax.set(ylabel=f"query MSE (mean over {N_SCRATCH} tasks, 95% CI)", title=f"{K}-shot sinusoid regression on meta-test tasks")
plt.tight_layout()
plt.show()
assert means[1] > means[0], "on average, from scratch should be worse than predicting 0"
assert 0.7 * means[3] < means[4] < means[3], "fine-tuning should help, but by less than 30%"
assert means[5] < 1e-10, "least squares on (sin, cos) should recover every task"

# %% [markdown]
# Neither baseline uses the other tasks *the way a few-shot learner needs*. From scratch
# ignores them. Pretraining averages them into one function that fits no task in particular,
# and the gradient steps taken from there are too weak or too wild to recover the task. Yet
# Step 5 shows that 5 points determine a task once the family is known.
#
# This is the case for the **meta-learning objective**: put the adaptation inside the
# objective, and optimize the initialization for the loss *after* adaptation,
#
# $$\min_\theta \; \mathbb{E}_{\mathcal{T} \sim p(\mathcal{T})} \Big[
#   \mathcal{L}_\mathcal{T}\big(\theta - \alpha \nabla_\theta
#   \mathcal{L}_\mathcal{T}(\theta, \mathcal{D}^{tr}_\mathcal{T}),\;
#   \mathcal{D}^{te}_\mathcal{T}\big) \Big].$$
#
# `maml_objective` above computed this quantity, with $k$ steps of size $\alpha$ instead of one,
# for $\theta_{pre}$; it is large because
# nothing asked $\theta_{pre}$ to make it small. Chapter 02 differentiates it with respect
# to $\theta$ (through the inner gradient step, which brings in second derivatives) and
# minimizes it. On this very benchmark (Finn et al., 2017, Figure 3), the meta-learned
# initialization reaches, after a single step, a fraction of the error that the pretrained
# network keeps after ten.
#
# ## What to remember
#
# * A meta-learning problem is a **distribution of tasks** $p(\mathcal{T})$. Each task has a
#   **support set** $\mathcal{D}^{tr}$ ($K$ examples to adapt on) and a **query set**
#   $\mathcal{D}^{te}$ (to score the adapted model); methods learn on **meta-training tasks**
#   and are judged on new **meta-test tasks**.
# * **From scratch**, $K = 5$ points cannot pin down a 1761-parameter network: it fits them
#   and on average does worse than predicting 0 elsewhere (a few wild fits dominate the mean).
# * **Pretraining** on pooled tasks learns the mean function
#   $\mathbb{E}_\mathcal{T}[f_\mathcal{T}(x)] = -\frac{2}{\pi}\mathbb{E}[A]\cos x$, the best
#   task-agnostic predictor ($\mathrm{MSE} \approx 3.01$ against $\mathbb{E}[A^2]/2 \approx 4.25$
#   for predicting 0), and **fine-tuning** it on 5 points removes only a small fraction of that.
# * Five points suffice when the structure is known (least squares on $\sin x, \cos x$ gives
#   zero error): the structure must be learned *from the other tasks*.
# * The fix is to optimize $\theta$ for the loss **after** adaptation,
#   $\min_\theta \mathbb{E}_\mathcal{T}[\mathcal{L}_\mathcal{T}(\mathrm{Adapt}(\theta, \mathcal{D}^{tr}), \mathcal{D}^{te})]$;
#   pretraining is the special case of zero adaptation steps.
#
# ## Exercises
#
# 1. **Change the phase range.** Let $\varphi \sim U[0, 2\pi]$ (`Sinusoid(phase_range=(0, 2 * np.pi))`).
#    What is the mean function now, and what does the pretrained network learn? Predict the
#    answer from Step 3 before you run it. *Hint:* integrate $\sin(x - \varphi)$ over a full period.
# 2. **A constant per task.** Suppose the learner may predict a different *constant* $c_\mathcal{T}$
#    for each task, chosen knowing the task. What is the best $c_\mathcal{T}$ and its expected
#    MSE? Is it better or worse than the mean function $m(x)$, which varies with $x$ but not
#    with the task? *Hint:* $c_\mathcal{T} = \mathbb{E}_x[f_\mathcal{T}(x)]$; the answer involves
#    $\mathbb{E}_x[\sin(x - \varphi)]$ over $x \sim U[-5, 5]$; check with Monte Carlo.
# 3. **More shots.** Repeat experiment (a) with $K = 20$ and $K = 50$. From which $K$ does
#    training from scratch beat the mean function? *Hint:* change `K` and re-run the chapter;
#    the asserts will tell you which claims stop holding, and that is the point.
# 4. **Noise.** Add Gaussian noise of standard deviation 0.3 to the support labels. What
#    happens to the least-squares learner of Step 5, and to the from-scratch network? *Hint:*
#    least squares on 2 features averages the noise over 5 points; the network interpolates it.
# 5. **A better baseline?** Fine-tune only the last layer of the pretrained network (keep the
#    other parameters fixed). Does it help? Why might features trained to produce $-\cos x$
#    be a poor basis for $\sin x$? *Hint:* look at the hidden units' outputs on the grid.
#
# ## References
#
# * C. Finn, P. Abbeel, S. Levine. *Model-Agnostic Meta-Learning for Fast Adaptation of Deep
#   Networks.* ICML 2017. arXiv:1703.03400. (The sinusoid benchmark: Section 5.1.)
# * T. Hospedales, A. Antoniou, P. Micaelli, A. Storkey. *Meta-Learning in Neural Networks: A
#   Survey.* IEEE TPAMI 44(9), 2022. arXiv:2004.05439. (Section 2: the formal problem and its terms.)
# * S. Thrun, L. Pratt (eds.). *Learning to Learn.* Kluwer Academic Publishers, 1998.
# * O. Vinyals, C. Blundell, T. Lillicrap, K. Kavukcuoglu, D. Wierstra. *Matching Networks for
#   One Shot Learning.* NeurIPS 2016. arXiv:1606.04080. (Support sets and episodic training.)
# * S. Ravi, H. Larochelle. *Optimization as a Model for Few-Shot Learning.* ICLR 2017.
#   (Meta-training and meta-test sets of tasks.)
#
# Further reading:
#
# * A. Nichol, J. Achiam, J. Schulman. *On First-Order Meta-Learning Algorithms.*
#   arXiv:1803.02999, 2018. (First-order meta-learning and Reptile; chapter 03.)
