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
# # 03 · Reptile
#
# **Goal.** By the end of this chapter you can state the Reptile algorithm correctly (several
# SGD steps per task, then move the initialization towards where they ended), explain why
# one step per task would be plain joint training, and derive, and check numerically, what
# Reptile, MAML and first-order MAML optimize in expectation. Then you train all three on
# sinusoids.
#
# ## Background
#
# Chapter 02 derived MAML: adapt on a support set, evaluate on a query set, and
# backpropagate through the adaptation, which costs Hessian-vector products. Nichol, Achiam
# and Schulman (2018) asked how much of that is needed, and proposed **Reptile**, which is
# even simpler than first-order MAML:
#
# 1. sample a task $\tau$;
# 2. starting from the initialization $\theta$, take $k$ steps of SGD on the task's loss,
#    one per **minibatch** of the task's data, with the inner step size $\alpha$; call the
#    result $W = U^k_\tau(\theta)$;
# 3. move $\theta$ a fraction $\beta$ (the outer step size) of the way towards $W$:
#    $\theta \leftarrow \theta + \beta\,(W - \theta)$.
#
# There is no support/query split, no gradient through the inner loop, and no second
# derivative anywhere. With a meta-batch of $n$ tasks the update averages the directions,
# $\theta \leftarrow \theta + \beta \cdot \frac1n \sum_i (W_i - \theta)$.
#
# Three statements about Reptile that you will meet in blog posts and surveys are wrong, and
# this chapter shows why:
#
# * *"Reptile takes one gradient step per task."* With $k = 1$, Reptile **is joint training**:
#   SGD on the average loss over tasks, the objective of chapter 02's pretrained baseline
#   (which chapter 02 minimized with Adam, on all ten points of each task). The
#   meta-learning comes entirely from the second and later steps (Steps 2 and 5).
# * *"Reptile needs second derivatives."* It is **first order**: the inner loop is plain SGD
#   and no gradient flows through $W$. Its cost is $k$ gradient evaluations per task and its
#   memory does not grow with $k$.
# * *"Reptile is a memory-based meta-learner."* Reptile keeps no memory of tasks: its only
#   state is $\theta$, and each $W_i$ is discarded after the update. Like MAML it is
#   **optimization-based**: a new task is learned by SGD from $\theta$. (Memory-based
#   meta-learners, such as memory-augmented networks (Santoro et al., 2016) or SNAIL (Mishra
#   et al., 2018), instead read a task's examples through a recurrent or attention memory.)
#
# ## Key equations
#
# For one task, write $\mathcal{L}_j$ for the loss on its $j$-th minibatch. The SGD path
# starts at $\phi_1 = \theta$, ends at $W = \phi_{k+1}$, and steps
# $\phi_{j+1} = \phi_j - \alpha g_j$ with $g_j = \nabla \mathcal{L}_j(\phi_j)$. Reptile's
# direction, scaled as a gradient, is the sum of the gradients along the path:
#
# $$g_{\text{Reptile}} = (\theta - W)/\alpha = \textstyle\sum_{j=1}^{k} g_j, \qquad
#   \theta \leftarrow \theta - \alpha\beta\, g_{\text{Reptile}}.$$
#
# Nichol et al. compare it with MAML and FOMAML that take $k - 1$ inner steps (minibatches
# $1, \dots, k-1$) and evaluate on minibatch $k$. With $\phi_k$ the point that the first
# $k - 1$ steps of the same path reach, their gradients are
#
# $$g_{\text{MAML}} = \frac{d}{d\theta} \mathcal{L}_k(\phi_k) \ \text{(differentiated through the inner steps)},
#   \qquad g_{\text{FOMAML}} = g_k = \nabla \mathcal{L}_k(\phi_k).$$
#
# Write $\bar g_j = \nabla \mathcal{L}_j(\theta)$ and $\bar H_j = \nabla^2 \mathcal{L}_j(\theta)$
# for the gradients and Hessians at the initialization, and take the expectation over tasks
# and minibatches:
#
# $$\text{AvgGrad} = \mathbb{E}[\bar g_1], \qquad
#   \text{AvgGradInner} = \mathbb{E}[\bar H_2 \bar g_1] = \tfrac12 \mathbb{E}\big[\nabla_\theta (\bar g_1 \cdot \bar g_2)\big].$$
#
# The second equality holds because the minibatches of a task are exchangeable:
# $\nabla_\theta (\bar g_1 \cdot \bar g_2) = \bar H_1 \bar g_2 + \bar H_2 \bar g_1$, and swapping
# the two minibatches shows $\mathbb{E}[\bar H_1 \bar g_2] = \mathbb{E}[\bar H_2 \bar g_1]$
# (step 4 checks it). Up to $O(\alpha^2)$, the expected gradients are
#
# $$\mathbb{E}[g_{\text{MAML}}] = \text{AvgGrad} - 2(k-1)\alpha\,\text{AvgGradInner}, \qquad
#   \mathbb{E}[g_{\text{FOMAML}}] = \text{AvgGrad} - (k-1)\alpha\,\text{AvgGradInner},$$
#
# $$\mathbb{E}[g_{\text{Reptile}}] = k\,\text{AvgGrad} - \tfrac12 k(k-1)\alpha\,\text{AvgGradInner}.$$
#
# AvgGrad descends the average loss (joint training). Descending $-\text{AvgGradInner}$
# *increases* $\bar g_1 \cdot \bar g_2$, the agreement between gradients of different
# minibatches of the same task, so that a step on one minibatch also helps on another: that
# is the generalization within a task that meta-learning is after. All three methods
# contain both terms, with different weights; with $k = 1$ the second term vanishes.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.func import grad, jvp
from tqdm.auto import trange

from metarl_lite import seed_everything
from metarl_lite.meta import maml_objective, reptile_step
from metarl_lite.nn import init_mlp, mlp
from metarl_lite.tasks import Sinusoid
from metarl_lite.widgets import adaptation_curves, adaptation_widget

rng = seed_everything(0)
family = Sinusoid()


def mse(params, batch, activation="relu"):
    """L(params; D) = mean over (x, y) in D of (f_params(x) - y)^2; x and y of shape [n, 1]."""
    x, y = batch
    return ((mlp(params, x, activation) - y) ** 2).mean()


def smooth_mse(params, batch):
    """The same loss for a tanh network, smooth in its parameters (for the Taylor analysis)."""
    return mse(params, batch, activation="tanh")


# %% [markdown]
# As in chapter 02, the derivation uses a small tanh network (1-10-10-1) in float64, and the
# parameters also as one flat vector $\theta \in \mathbb{R}^P$ for explicit comparisons.

# %%
# NBVAL_CHECK_OUTPUT
theta = init_mlp([1, 10, 10, 1], seed=0, dtype=torch.float64)
names, shapes = list(theta), [p.shape for p in theta.values()]
sizes = [p.numel() for p in theta.values()]


def flatten(params):
    """A parameter dict as one vector of length P."""
    return torch.cat([params[k].reshape(-1) for k in names])


def unflatten(vector):
    """The inverse of flatten."""
    return {k: v.reshape(s) for k, v, s in zip(names, torch.split(vector, sizes), shapes)}


def loss_on(batch):
    """The loss on one minibatch as a function of the flat parameter vector."""
    return lambda vector: smooth_mse(unflatten(vector), batch)


def minibatches(task, k, size=5):
    """k minibatches of `size` points of one task, in float64."""
    return [task.sample(size, rng, dtype=torch.float64) for _ in range(k)]


theta_vec = flatten(theta).detach()
print(f"P = {theta_vec.numel()} parameters")

# %% [markdown]
# ## Derivation
#
# ### Step 1. The algorithm, batched
#
# For each task $i$ of the meta-batch, $k$ SGD steps from $\theta$, one per minibatch, give
# $W_i$; then $\theta \leftarrow \theta + \beta \cdot \frac1n \sum_i (W_i - \theta)$.
# `metarl_lite.meta.reptile_step` takes a task as its list of $k$ minibatches. The check: it
# matches a hand-written loop that uses nothing but first derivatives, and its result carries
# no autograd graph (nothing is differentiated through $W$).

# %%
alpha, beta = 0.01, 0.5
tasks = [minibatches(t, k=3) for t in family.sample_tasks(2, rng)]  # 2 tasks, k = 3 minibatches each

adapted = []
for task_minibatches in tasks:
    w = theta_vec
    for batch in task_minibatches:
        w = w - alpha * grad(loss_on(batch))(w)  # one SGD step per minibatch
    adapted.append(w)
by_hand = theta_vec + beta * torch.stack([w - theta_vec for w in adapted]).mean(0)

new_theta = reptile_step(smooth_mse, theta, tasks, inner_lr=alpha, outer_lr=beta)
assert torch.allclose(flatten(new_theta), by_hand, rtol=0, atol=1e-15)
assert all(p.grad_fn is None for p in new_theta.values()), "Reptile's update is not differentiated through"
print(f"|theta_new - theta| = {(by_hand - theta_vec).norm():.3e}")

# %% [markdown]
# ### Step 2. With one step per task, Reptile is joint training
#
# With $k = 1$, $W_i = \theta - \alpha \nabla \mathcal{L}_i(\theta)$, so
#
# $$\theta + \beta \cdot \tfrac1n \textstyle\sum_i (W_i - \theta)
#   = \theta - \alpha\beta\, \nabla_\theta \Big[\tfrac1n \sum_i \mathcal{L}_i(\theta)\Big],$$
#
# one step of SGD, with step size $\alpha\beta$, on the average loss over the meta-batch:
# joint training. Its objective is the one chapter 02's pretrained baseline minimized (there
# with Adam, on all ten points of each task), a network that chapter 02 showed adapts poorly
# from five points. The check:
# `reptile_step` with $k = 1$ against an SGD step on the mean loss.

# %%
one_step_tasks = [minibatches(t, k=1) for t in family.sample_tasks(4, rng)]
reptile_k1 = reptile_step(smooth_mse, theta, one_step_tasks, inner_lr=alpha, outer_lr=beta)


def mean_loss(vector):
    """(1/n) sum_i L_i(theta): the joint-training objective of the meta-batch."""
    return torch.stack([loss_on(task[0])(vector) for task in one_step_tasks]).mean()


sgd_step = theta_vec - alpha * beta * grad(mean_loss)(theta_vec)
assert torch.allclose(flatten(reptile_k1), sgd_step, rtol=0, atol=1e-15)
print(f"max |Reptile(k=1) - SGD on the mean loss| = {(flatten(reptile_k1) - sgd_step).abs().max():.1e}")

# %% [markdown]
# ### Step 3. Taylor expansion of the gradients along the SGD path
#
# Every gradient on the path is evaluated at a point $\phi_j$ that has moved away from
# $\theta$ by $\phi_j - \theta = -\alpha \sum_{i<j} g_i$. Expanding $\nabla \mathcal{L}_j$
# around $\theta$ to first order, and replacing the $g_i$ in the $O(\alpha)$ term by
# $\bar g_i$ (which costs another $O(\alpha^2)$):
#
# $$g_j = \bar g_j + \bar H_j (\phi_j - \theta) + O(\alpha^2)
#       = \bar g_j - \alpha\, \bar H_j \textstyle\sum_{i<j} \bar g_i + O(\alpha^2).$$
#
# This single expansion gives all the results of the chapter. The check for $k = 3$: the
# error of the expansion for $g_3$ shrinks a hundredfold when $\alpha$ shrinks tenfold.
# (The products $\bar H_j \bar g_i$ are Hessian-vector products, here computed
# forward-over-reverse with `torch.func.jvp`, as in chapter 02, step 4.)

# %%
def hvp(batch, vector):
    """H_batch(theta) @ vector, without forming the Hessian."""
    return jvp(grad(loss_on(batch)), (theta_vec,), (vector,))[1]


path_minibatches = minibatches(family.sample_tasks(1, rng)[0], k=3)
g_bar = [grad(loss_on(b))(theta_vec) for b in path_minibatches]
taylor_errors = []
for a in (1e-2, 1e-3):
    phi = theta_vec
    for b in path_minibatches[:2]:
        phi = phi - a * grad(loss_on(b))(phi)
    g_3 = grad(loss_on(path_minibatches[2]))(phi)
    expansion = g_bar[2] - a * hvp(path_minibatches[2], g_bar[0] + g_bar[1])
    taylor_errors.append((g_3 - expansion).norm().item())
    print(f"alpha = {a:.0e}: |g_3 - expansion| = {taylor_errors[-1]:.2e}")
assert 50 < taylor_errors[0] / taylor_errors[1] < 200, "the remainder should shrink like alpha^2"

# %% [markdown]
# ### Step 4. The two terms: AvgGrad and AvgGradInner
#
# Take the expectation of step 3 over tasks and over minibatches. Minibatches of a task are
# exchangeable: the first could as well have been the second. So for two minibatches $A$ and
# $B$ of a task we average over both **orderings**, $(1, 2) = (A, B)$ and $(B, A)$:
#
# $$\text{AvgGrad} = \mathbb{E}\big[\tfrac12(\bar g_A + \bar g_B)\big], \qquad
#   \text{AvgGradInner} = \mathbb{E}\big[\tfrac12(\bar H_B \bar g_A + \bar H_A \bar g_B)\big]
#   = \tfrac12\, \mathbb{E}\big[\nabla_\theta(\bar g_A \cdot \bar g_B)\big],$$
#
# the last equality because $\nabla_\theta(\bar g_A \cdot \bar g_B) = \bar H_A \bar g_B + \bar H_B \bar g_A$
# (product rule; the Hessians are symmetric). We use four tasks with two minibatches each.
# The check: the Hessian-vector form against the gradient of the inner product.

# %%
pairs = [tuple(minibatches(t, k=2)) for t in family.sample_tasks(4, rng)]  # (A, B) for each of 4 tasks
orderings = [[a, b] for a, b in pairs] + [[b, a] for a, b in pairs]


def gradient_agreement(vector, a, b):
    """g_A(theta) . g_B(theta): how much a step on one minibatch helps the other."""
    return grad(loss_on(a))(vector) @ grad(loss_on(b))(vector)


avg_grad = torch.stack([(grad(loss_on(a))(theta_vec) + grad(loss_on(b))(theta_vec)) / 2 for a, b in pairs]).mean(0)
avg_grad_inner = torch.stack([grad(gradient_agreement)(theta_vec, a, b) / 2 for a, b in pairs]).mean(0)
via_hvp = torch.stack([(hvp(b, grad(loss_on(a))(theta_vec)) + hvp(a, grad(loss_on(b))(theta_vec))) / 2
                       for a, b in pairs]).mean(0)
assert torch.allclose(avg_grad_inner, via_hvp, rtol=0, atol=1e-12)
print(f"|AvgGrad| = {avg_grad.norm():.4f}, |AvgGradInner| = {avg_grad_inner.norm():.4f}")

# %% [markdown]
# ### Step 5. MAML, FOMAML and Reptile in expectation, checked for $k = 2$
#
# With $k = 2$: MAML and FOMAML take one inner step on minibatch 1 and evaluate on
# minibatch 2; Reptile takes an SGD step on each. MAML's Jacobian factor is evaluated at
# $\phi_1 = \theta$, so it is exactly $I - \alpha \bar H_1$, and step 3 gives, for one ordering,
#
# $$g_{\text{FOMAML}} = g_2 = \bar g_2 - \alpha \bar H_2 \bar g_1, \qquad
#   g_{\text{MAML}} = (I - \alpha \bar H_1)\, g_2 = \bar g_2 - \alpha \bar H_2 \bar g_1 - \alpha \bar H_1 \bar g_2,$$
#
# $$g_{\text{Reptile}} = g_1 + g_2 = \bar g_1 + \bar g_2 - \alpha \bar H_2 \bar g_1,$$
#
# all up to $O(\alpha^2)$. Averaging over the two orderings turns $\bar H_2 \bar g_1$ and
# $\bar H_1 \bar g_2$ each into AvgGradInner:
#
# $$\mathbb{E}[g_{\text{MAML}}] = \text{AvgGrad} - 2\alpha\,\text{AvgGradInner}, \quad
#   \mathbb{E}[g_{\text{FOMAML}}] = \text{AvgGrad} - \alpha\,\text{AvgGradInner}, \quad
#   \mathbb{E}[g_{\text{Reptile}}] = 2\,\text{AvgGrad} - \alpha\,\text{AvgGradInner},$$
#
# the general formulas of the key equations at $k = 2$. The check uses the library: with
# all eight (task, ordering) pairs as the meta-batch, `maml_objective` averages MAML's and
# FOMAML's gradient over them, and `reptile_step` with $\beta = 1$ returns the average $W$.
# If the formulas are right, what they leave out must shrink like $\alpha^2$; if the
# AvgGradInner term were wrong, the error would shrink only like $\alpha$. The log-log plot
# shows both.

# %%
def expected_gradients(a):
    """The three meta-gradients with inner step size a, averaged over tasks and orderings."""
    out = {}
    for name, first_order in (("MAML", False), ("FOMAML", True)):
        objective = maml_objective(smooth_mse, theta, orderings, lr=a, first_order=first_order)
        out[name] = torch.cat([g.reshape(-1) for g in torch.autograd.grad(objective, list(theta.values()))])
    mean_w = flatten(reptile_step(smooth_mse, theta, orderings, inner_lr=a, outer_lr=1.0))
    out["Reptile"] = (theta_vec - mean_w) / a
    return out


k = 2
leading = {"MAML": (avg_grad, 2 * (k - 1)), "FOMAML": (avg_grad, k - 1), "Reptile": (k * avg_grad, k * (k - 1) / 2)}
alphas = np.logspace(-4, -1.5, 6)
remainder = {name: [] for name in leading}
without_inner = {name: [] for name in leading}
for a in alphas:
    gradients = expected_gradients(a)
    for name, (avg_grad_term, weight) in leading.items():
        remainder[name].append((gradients[name] - (avg_grad_term - weight * a * avg_grad_inner)).norm().item())
        without_inner[name].append((gradients[name] - avg_grad_term).norm().item())

fig, ax = plt.subplots(figsize=(7, 4.5))
for (name, r), color, marker in zip(remainder.items(), ("C0", "C1", "C2"), ("o", "s", "^")):
    slope = np.polyfit(np.log(alphas), np.log(r), 1)[0]
    slope_without = np.polyfit(np.log(alphas), np.log(without_inner[name]), 1)[0]
    style = dict(color=color, marker=marker, markersize=11 if name == "Reptile" else 6, fillstyle="none")
    ax.loglog(alphas, r, "-", **style, label=f"{name}: Taylor formula (slope {slope:.2f})")
    ax.loglog(alphas, without_inner[name], "--", **style, label=f"{name}: AvgGrad term only (slope {slope_without:.2f})")
    assert 1.9 < slope < 2.1, f"{name}: the remainder should be O(alpha^2), slope {slope:.2f}"
    assert 0.9 < slope_without < 1.1, f"{name}: without AvgGradInner the error is O(alpha), slope {slope_without:.2f}"
ax.set_xlabel("inner step size alpha")
ax.set_ylabel("| expected gradient - formula |")
ax.set_title("Nichol et al.'s expansion, k = 2: what it leaves out is O(alpha^2)")
ax.legend(fontsize="small")
plt.show()
assert np.allclose(remainder["Reptile"], remainder["FOMAML"], rtol=1e-3)

# %% [markdown]
# Two things to read off the plot. The solid lines have slope 2 and the dashed lines slope
# 1: the AvgGradInner term is exactly the $O(\alpha)$ part of each gradient. And the FOMAML
# and Reptile lines coincide. That is no accident: for $k = 2$,
# $g_{\text{Reptile}} = g_1 + g_{\text{FOMAML}}$ with $g_1 = \bar g_1$ exactly (the first step
# starts at $\theta$), and $\mathbb{E}[\bar g_1] = \text{AvgGrad}$, so Reptile's remainder *is*
# FOMAML's (the last assert checks it).
#
# Per unit of AvgGrad, MAML weighs AvgGradInner by $2(k-1)\alpha$, FOMAML by $(k-1)\alpha$ and
# Reptile by $(k-1)\alpha/2$. So MAML pushes hardest towards gradient agreement, but all
# three push the same way, which helps explain why they perform similarly on the few-shot
# image benchmarks of Nichol et al.; and
# Reptile's weight grows with $k$, so it needs $k > 1$ and usually benefits from several
# steps.
#
# ## Pseudocode
#
# Reptile, batched version (Nichol et al., 2018, Algorithm 2):
#
# ```
# input: task distribution p(T), inner step size alpha, outer step size beta, k
# initialize theta
# repeat
#     sample tasks T_1 ... T_n ~ p(T)
#     for each task T_i:
#         W = theta
#         for j = 1 ... k:                      (k > 1)
#             sample a minibatch D_j of T_i
#             W = W - alpha * grad L(W; D_j)      (plain SGD, no graph kept)
#         W_i = W
#     theta = theta + beta * (1/n) sum_i (W_i - theta)
# ```
#
# The serial version (their Algorithm 1) is the same with $n = 1$. With the average end point
# $\bar W = \frac1n \sum_i W_i$, the last line reads $\theta \leftarrow \theta + \beta(\bar W - \theta)$.
# Since $(\theta - \bar W)/\alpha$ plays the role of a gradient, it can also be handed to Adam
# instead of this plain step.
#
# ## Library call
#
# `metarl_lite.meta.reptile_step(loss_fn, params, tasks, inner_lr=alpha, outer_lr=beta)`
# returns the new $\theta$; `tasks` is a list with one entry per task, the list of that task's
# $k$ minibatches (to take $k$ full-batch gradient steps instead, pass the same batch $k$
# times). When all tasks have the same $k$ and the same shapes, the $n$ inner loops run as
# one `torch.func.vmap`.
#
# ## Experiment: Reptile, MAML and FOMAML on sinusoids
#
# The same tasks and network as chapter 02 (1-40-40-1 ReLU MLP, 25 tasks per iteration, 1000
# iterations, $\alpha = 0.01$):
#
# * **MAML** and **FOMAML**: 5 support and 5 query points per task (10 points), one inner
#   step, Adam with $\beta = 10^{-3}$;
# * **Reptile**: $k = 5$ SGD steps on 5 minibatches of 5 points each (25 points per task),
#   outer step $\beta = 1$, that is, $\theta$ moves to the average $\bar W$ of the $W_i$
#   (each $W_i$ is only $k$ small SGD steps away from $\theta$, and averaging 25 tasks
#   smooths the direction);
# * **Reptile with $k = 1$**: the same with one minibatch (5 points per task), which step 2
#   showed is joint training.
#
# The comparison is matched in tasks (25 000 for each method) but **not in data**: of each
# training task, Reptile with $k = 5$ sees 25 points, MAML and FOMAML 10, Reptile with
# $k = 1$ only 5. All four are then evaluated the same way: 100 held-out tasks, 0 to 10
# gradient steps of size $\alpha = 0.01$ on $K = 5$ support points, MSE on 100 query points.

# %%
ITERATIONS, META_BATCH, K = 1000, 25, 5


def maml_batch():
    """A meta-batch for MAML/FOMAML: (support, query) pairs of K points each."""
    return [(t.sample(K, rng), t.sample(K, rng)) for t in family.sample_tasks(META_BATCH, rng)]


def reptile_batch(k):
    """A meta-batch for Reptile: per task, k minibatches of K points each."""
    tasks = []
    for t in family.sample_tasks(META_BATCH, rng):
        x, y = t.sample(k * K, rng)
        tasks.append(list(zip(x.split(K), y.split(K))))
    return tasks


learned = {}
for name, first_order in (("MAML", False), ("FOMAML", True)):
    params = init_mlp([1, 40, 40, 1], seed=0)
    optimizer = torch.optim.Adam(params.values(), lr=1e-3)
    for _ in trange(ITERATIONS, desc=name):
        loss = maml_objective(mse, params, maml_batch(), lr=alpha, first_order=first_order)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    learned[name] = params
for name, steps in (("Reptile, k = 5", 5), ("Reptile, k = 1 (joint training)", 1)):
    params = init_mlp([1, 40, 40, 1], seed=0)
    for _ in trange(ITERATIONS, desc=name):
        params = reptile_step(mse, params, reptile_batch(steps), inner_lr=alpha, outer_lr=1.0)
    learned[name] = params

test_rng = np.random.default_rng(2017)
test_tasks = [(t.sample(K, test_rng), t.sample(100, test_rng)) for t in family.sample_tasks(100, test_rng)]
curves = {name: adaptation_curves(params, test_tasks, lr=alpha, steps=10)["query"] for name, params in learned.items()}

fig, ax = plt.subplots(figsize=(7, 4))
for name, curve in curves.items():
    ax.plot(range(11), curve, marker="o", label=name)
ax.set_xlabel("gradient steps on the K = 5 support points")
ax.set_ylabel("query MSE (100 held-out tasks)")
ax.set_title(f"Few-shot adaptation after {ITERATIONS} meta-iterations, alpha = {alpha}")
ax.legend()
plt.show()
for name, curve in curves.items():
    print(f"{name:>32}: query MSE after 0/1/5/10 steps = " + " / ".join(f"{curve[s]:.2f}" for s in (0, 1, 5, 10)))


def average_function(x):
    """E[y | x] = -(2 E[A] / pi) cos x over the task distribution (chapter 02), with E[A] the mean amplitude."""
    return -2 * np.mean(family.amplitude_range) / np.pi * torch.cos(x)


average_function_mse = np.mean([(average_function(x) - y).square().mean().item() for _, (x, y) in test_tasks])
print(f"{'average function E[y | x]':>32}: query MSE = {average_function_mse:.2f} (no adaptation)")

reptile, maml, fomaml = curves["Reptile, k = 5"], curves["MAML"], curves["FOMAML"]
joint = curves["Reptile, k = 1 (joint training)"]
assert reptile[1] < reptile[0] and reptile[10] < reptile[0], "Reptile's initialization should adapt"
assert reptile[10] < joint[10], "k = 5 should beat joint training"
assert joint[10] > joint[0], "ten steps on five points should make joint training worse"
assert joint[0] > average_function_mse, "joint training should not yet have reached the average function"
assert fomaml[10] > max(maml[10], reptile[10]), "FOMAML should trail MAML and Reptile"
assert all(reptile[s] < maml[s] for s in (1, 5, 10)), "Reptile (k = 5) should beat MAML after 1, 5 and 10 steps"

# %% [markdown]
# Reptile's initialization, like MAML's, is poor before adaptation and good after a few
# steps. With $k = 1$ it behaves like the pretrained network of chapter 02: ten gradient
# steps on five points make its predictions worse, not better. It has not even reached the
# average function at this budget: before adaptation its query MSE is above that of the
# average function $\mathbb{E}[y \mid x] = -\frac{2\,\mathbb{E}[A]}{\pi} \cos x$ of chapter 02,
# the best a single unadapted function can do in expectation (last printed line).
#
# After ten steps FOMAML trails both MAML and Reptile, and Reptile with $k = 5$ beats MAML
# after 1, 5 and 10 steps (1.15 against 1.40 after ten; the asserts check each comparison). Read
# the last comparison with care: it is one seed at a small budget, and it is not
# data-matched, since Reptile saw 25 points of each training task and MAML 10. Chapter 02's
# reference table lists every run in `results/sinusoid`, including those still training;
# the paper-scale Reptile and FOMAML runs appear there with their numbers once they finish.
#
# ### Try it
#
# The sliders set the step size $\alpha$ and the number of steps $k$ used at test time. Reptile
# was trained with five steps per task: does it gain more from extra steps than MAML, which
# was trained for one?

# %%
# NBVAL_IGNORE_OUTPUT
demo_task = family.sample_tasks(1, np.random.default_rng(7))[0]
adaptation_widget({name: learned[name] for name in ("Reptile, k = 5", "MAML", "Reptile, k = 1 (joint training)")},
                  demo_task, lr=alpha, steps=5, shots=K, seed=0)

# %% [markdown]
# ## What to remember
#
# * Reptile: $k$ SGD steps on a task, one per minibatch, reach $W$; then
#   $\theta \leftarrow \theta + \beta \cdot \frac1n\sum_i (W_i - \theta)$. No support/query
#   split, no second derivatives, no graph through the inner loop.
# * $k > 1$ is essential: with $k = 1$ Reptile is SGD on the average loss, joint training.
# * Reptile is first order and optimization-based, not memory-based: its only state is
#   $\theta$, and a new task is learned by SGD.
# * To first order in $\alpha$, MAML, FOMAML and Reptile all follow AvgGrad (lower the
#   average loss) and $-$AvgGradInner (make gradients of different minibatches of a task
#   agree), with AvgGrad weights $1$, $1$, $k$ and AvgGradInner weights $2(k-1)\alpha$,
#   $(k-1)\alpha$, $\frac12 k(k-1)\alpha$ respectively.
# * The expansion of step 3 holds for every ordering of the minibatches; only writing it with
#   AvgGradInner needs the expectation over orderings. Numerically, what it leaves out shrinks
#   like $\alpha^2$.
#
# ## Exercises
#
# 1. **$k = 3$.** Extend step 5 to three minibatches: average over all $3! = 6$ orderings,
#    and check $\mathbb{E}[g_{\text{Reptile}}] = 3\,\text{AvgGrad} - 3\alpha\,\text{AvgGradInner}$
#    and $\mathbb{E}[g_{\text{MAML}}] = \text{AvgGrad} - 4\alpha\,\text{AvgGradInner}$ (with
#    two inner steps). What goes wrong with a single ordering?
# 2. **Full batch.** Repeat step 5 with the *same* minibatch twice ($A = B$). Show that
#    AvgGradInner becomes $\frac12 \nabla_\theta \|\bar g_A\|^2$ and check the expansion. What
#    does the update favour now, and why is "generalization across minibatches" lost?
# 3. **Reptile with Adam.** Feed $(\theta - \bar W)/\alpha$, with $\bar W = \frac1n \sum_i W_i$,
#    to `torch.optim.Adam` as the gradient (set `p.grad` and call `step()`) and compare with
#    the plain update in the experiment.
# 4. **How many steps?** Train Reptile with $k = 2, 5, 10$ at a fixed number of gradient
#    evaluations (fewer iterations for larger $k$). Which $k$ adapts best after 1 and after 10
#    test-time steps?
#
# ## References
#
# * A. Nichol, J. Achiam, J. Schulman. *On First-Order Meta-Learning Algorithms.*
#   arXiv:1803.02999, 2018. (Reptile, Algorithms 1 and 2; the Taylor analysis, Sec. 5.)
# * C. Finn, P. Abbeel, S. Levine. *Model-Agnostic Meta-Learning for Fast Adaptation of Deep
#   Networks.* ICML 2017. (MAML and first-order MAML; chapter 02.)
# * A. Santoro, S. Bartunov, M. Botvinick, D. Wierstra, T. Lillicrap. *Meta-Learning with
#   Memory-Augmented Neural Networks.* ICML 2016. (A memory-based meta-learner, for contrast.)
# * N. Mishra, M. Rohaninejad, X. Chen, P. Abbeel. *A Simple Neural Attentive Meta-Learner.*
#   ICLR 2018. (Another memory-based meta-learner: temporal convolutions and attention.)
