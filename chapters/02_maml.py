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
# # 02 · MAML, derived step by step
#
# **Goal.** By the end of this chapter you can write the gradient of the MAML objective by
# hand, say what every factor in it means, compute it without ever building a Hessian, and
# check each of these claims with a line of code. Then you train MAML on sinusoids and watch
# it adapt from five points in one gradient step, where an ordinary pretrained network
# cannot.
#
# ## Background
#
# Model-Agnostic Meta-Learning (MAML; Finn, Abbeel & Levine, 2017) looks for an
# **initialization** $\theta$ of a network's parameters from which *one or a few gradient
# steps* on a handful of examples of a new task give a good model of that task.
#
# The setting, in symbols that the whole chapter uses:
#
# * tasks $\mathcal{T}_i$ are drawn from a distribution $p(\mathcal{T})$; here a task is a
#   sinusoid $y = A \sin(x - \varphi)$ with amplitude $A \sim U[0.1, 5]$ and phase
#   $\varphi \sim U[0, \pi]$, and $x \sim U[-5, 5]$;
# * each task gives a **support set** $\mathcal{D}^{tr}_i$ of $K$ examples (here $K = 5$: five
#   points of the curve) and a **query set** $\mathcal{D}^{te}_i$ of fresh examples of the same
#   task;
# * $f_\theta$ is a network with parameters $\theta \in \mathbb{R}^P$ (in the experiment a
#   1-40-40-1 ReLU MLP, $P = 1761$), and the loss is the mean squared error; we write
#   $\mathcal{L}^{tr}_i(\theta)$ for the loss on the support set and $\mathcal{L}^{te}_i(\theta)$
#   for the loss on the query set;
# * **adaptation** is gradient descent on the support loss with the **inner step size**
#   $\alpha$ (here $\alpha = 0.01$); its result is the adapted parameters $\phi_i$;
# * the initialization is trained by an outer optimizer with the **outer step size** $\beta$
#   (here Adam with $\beta = 10^{-3}$) on a **meta-batch** of tasks (here 25).
#
# The baseline is the obvious alternative: **pretrain** one network on all tasks at once
# (minimize the average loss over tasks), then fine-tune it on the support set with the same
# gradient steps. We will see why that fails on sinusoids and MAML does not.
#
# ## Key equations
#
# One inner step, and the MAML objective (a sum over the meta-batch):
#
# $$\phi_i(\theta) = \theta - \alpha \nabla \mathcal{L}^{tr}_i(\theta), \qquad
#   \min_\theta \; J(\theta) = \sum_i \mathcal{L}^{te}_i\big(\theta - \alpha \nabla \mathcal{L}^{tr}_i(\theta)\big).$$
#
# Notation: $\nabla \mathcal{L}(\phi)$ is the gradient of $\mathcal{L}$ *evaluated at* the point
# $\phi$, as if $\phi$ were the variable; $\nabla_\theta$ differentiates the whole expression
# with respect to $\theta$, through $\phi_i(\theta)$. The gradient of the objective, the
# **meta-gradient**, with $H^{tr}_i(\theta) = \nabla^2 \mathcal{L}^{tr}_i(\theta)$ the Hessian of the
# support loss:
#
# $$\nabla_\theta\, \mathcal{L}^{te}_i(\phi_i) = \big(I - \alpha H^{tr}_i(\theta)\big)\, \nabla \mathcal{L}^{te}_i(\phi_i).$$
#
# First-order MAML (FOMAML) drops the Hessian term: $\nabla \mathcal{L}^{te}_i(\phi_i)$. With
# $k$ inner steps on task $i$ (the index $i$ dropped from $\phi$, whose subscript now counts
# steps): $\phi_0 = \theta$, $\phi_{j+1} = \phi_j - \alpha \nabla \mathcal{L}^{tr}_i(\phi_j)$, and
#
# $$\nabla_\theta\, \mathcal{L}^{te}_i(\phi_k) = (I - \alpha H_0)(I - \alpha H_1)\cdots(I - \alpha H_{k-1})\,
#   \nabla \mathcal{L}^{te}_i(\phi_k), \qquad H_j = \nabla^2 \mathcal{L}^{tr}_i(\phi_j).$$
#
# The derivation below proves each of these in seven numbered steps, and checks each step
# numerically.

# %%
import json
import subprocess
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from torch.func import grad, hessian, jacrev, jvp
from tqdm.auto import trange

from metarl_lite import seed_everything
from metarl_lite.meta import adapt, maml_objective
from metarl_lite.nn import init_mlp, mlp
from metarl_lite.report import PAPER_5SHOT, results_table
from metarl_lite.tasks import LinearRegression, Sinusoid
from metarl_lite.tasks.linear import maml_closed_form
from metarl_lite.widgets import adaptation_curves, adaptation_widget, adapted_fit, plot_adapted_fits

rng = seed_everything(0)

# %% [markdown]
# The loss $\mathcal{L}(\theta; \mathcal{D}) = \frac{1}{|\mathcal{D}|}\sum_{(x, y) \in \mathcal{D}} (f_\theta(x) - y)^2$
# is a pure function of the parameter dict and a batch `(x, y)`, which is the form that
# `metarl_lite.meta.adapt` and `torch.func` expect. For the derivation we use a *smooth*
# network (tanh instead of ReLU), so that finite differences converge cleanly; every identity
# below holds for any twice-differentiable loss.

# %%
def mse(params, batch, activation="relu"):
    """L(params; D) = mean over (x, y) in D of (f_params(x) - y)^2; x and y of shape [n, 1]."""
    x, y = batch
    return ((mlp(params, x, activation) - y) ** 2).mean()


def smooth_mse(params, batch):
    """The same loss for a tanh network, smooth in its parameters."""
    return mse(params, batch, activation="tanh")


# %% [markdown]
# To compare with full Jacobians and Hessians we also need the parameters as one vector
# $\theta \in \mathbb{R}^P$. The derivation uses a small tanh network (1-10-10-1, so
# $P = 10 + 10 + 100 + 10 + 10 + 1 = 141$ here, not the 1761 of the experiment's network; in
# float64 so that identities hold to about $10^{-13}$), one sinusoid task with $K = 5$ support
# points and 10 query points, and the paper's $\alpha = 0.01$.

# %%
# NBVAL_CHECK_OUTPUT
alpha = 0.01
theta = init_mlp([1, 10, 10, 1], seed=0, dtype=torch.float64)
names, shapes = list(theta), [p.shape for p in theta.values()]
sizes = [p.numel() for p in theta.values()]
P = sum(sizes)


def flatten(params):
    """A parameter dict as one vector of length P."""
    return torch.cat([params[k].reshape(-1) for k in names])


def unflatten(vector):
    """The inverse of flatten."""
    return {k: v.reshape(s) for k, v, s in zip(names, torch.split(vector, sizes), shapes)}


task = Sinusoid().sample_tasks(1, rng)[0]
support = task.sample(5, rng, dtype=torch.float64)
query = task.sample(10, rng, dtype=torch.float64)


def loss_tr(vector):
    """L_tr as a function of the flat parameter vector."""
    return smooth_mse(unflatten(vector), support)


def loss_te(vector):
    """L_te as a function of the flat parameter vector."""
    return smooth_mse(unflatten(vector), query)


theta_vec = flatten(theta).detach()
eye = torch.eye(P, dtype=torch.float64)
print(f"P = {P} parameters; a Hessian has P^2 = {P * P} entries")
print(f"task: amplitude {task.amplitude:.3f}, phase {task.phase:.3f}")

# %% [markdown]
# ## Derivation
#
# ### Step 1. The inner update
#
# Adapting to task $i$ is one step of gradient descent on its support loss:
#
# $$\phi_i = \theta - \alpha\, g^{tr}, \qquad g^{tr} = \nabla \mathcal{L}^{tr}_i(\theta).$$
#
# For small $\alpha$ this step decreases the support loss at the rate the first-order Taylor
# expansion predicts, $\mathcal{L}^{tr}_i(\phi_i) = \mathcal{L}^{tr}_i(\theta) - \alpha \|g^{tr}\|^2 + O(\alpha^2)$.
# The check: `adapt` computes exactly $\theta - \alpha g^{tr}$, and the measured decrease per
# unit step, divided by $\|g^{tr}\|^2$, tends to 1 with an error proportional to $\alpha$.

# %%
g_tr = grad(loss_tr)(theta_vec)
phi_vec = theta_vec - alpha * g_tr
phi = adapt(smooth_mse, theta, support, lr=alpha)
assert torch.allclose(flatten(phi), phi_vec, rtol=0, atol=1e-15)

errors = []
for a in (1e-2, 1e-3, 1e-4):
    ratio = (loss_tr(theta_vec) - loss_tr(theta_vec - a * g_tr)) / (a * g_tr.square().sum())
    errors.append(abs(ratio.item() - 1))
    print(f"alpha = {a:.0e}: (L(theta) - L(phi)) / (alpha |g|^2) = {ratio:.6f}")
assert errors[0] / errors[1] > 5 and errors[1] / errors[2] > 5, "the Taylor error should shrink like alpha"

# %% [markdown]
# ### Step 2. The chain rule through the inner update
#
# The adapted parameters are a function of $\theta$, and $\theta$ enters twice: directly,
# and through the gradient. Differentiating $\phi(\theta) = \theta - \alpha \nabla \mathcal{L}^{tr}(\theta)$
# gives its Jacobian:
#
# $$\frac{\partial \phi}{\partial \theta} = I - \alpha\, H^{tr}(\theta), \qquad
#   H^{tr}(\theta) = \nabla^2 \mathcal{L}^{tr}(\theta) \in \mathbb{R}^{P \times P}.$$
#
# The Jacobian of a gradient is a Hessian, which is symmetric. The check: the full Jacobian
# by reverse-mode autodiff (`torch.func.jacrev`) against $I - \alpha H$ with $H$ from
# `torch.func.hessian`.

# %%
def inner_step(vector):
    """phi(theta) = theta - alpha grad L_tr(theta), on flat vectors."""
    return vector - alpha * grad(loss_tr)(vector)


jacobian = jacrev(inner_step)(theta_vec)  # [P, P]
H_tr = hessian(loss_tr)(theta_vec)  # [P, P]
assert torch.allclose(H_tr, H_tr.T, rtol=0, atol=1e-12), "a Hessian is symmetric"
assert torch.allclose(jacobian, eye - alpha * H_tr, rtol=0, atol=1e-13)
print(f"max |d phi/d theta - (I - alpha H)| = {(jacobian - (eye - alpha * H_tr)).abs().max():.1e}")

# %% [markdown]
# ### Step 3. The meta-gradient
#
# The meta-objective of one task is $\mathcal{L}^{te}(\phi(\theta))$. By the chain rule, the
# gradient is the transposed Jacobian of step 2 applied to the query gradient *at the adapted
# parameters*, and the transpose does nothing because the Jacobian is symmetric:
#
# $$\nabla_\theta\, \mathcal{L}^{te}(\phi(\theta))
#   = \Big(\frac{\partial \phi}{\partial \theta}\Big)^{\!\top} \nabla \mathcal{L}^{te}(\phi)
#   = \big(I - \alpha H^{tr}(\theta)\big)\, \nabla \mathcal{L}^{te}(\phi).$$
#
# Read it from right to left: the query gradient $\nabla \mathcal{L}^{te}(\phi)$ says how to
# change the *adapted* parameters; the factor $I - \alpha H^{tr}$ translates that into a change
# of the *initialization*, accounting for how a different $\theta$ would have been adapted.
# The check: autograd differentiating through `adapt` (which keeps the graph of the inner
# gradient) against the formula.

# %%
meta_grad_autograd = torch.autograd.grad(smooth_mse(adapt(smooth_mse, theta, support, lr=alpha), query),
                                         list(theta.values()))
g_te_phi = grad(loss_te)(phi_vec)  # grad L_te at the adapted parameters
meta_grad_formula = (eye - alpha * H_tr) @ g_te_phi
assert torch.allclose(torch.cat([g.reshape(-1) for g in meta_grad_autograd]), meta_grad_formula, rtol=0, atol=1e-13)
print(f"|meta-gradient| = {meta_grad_formula.norm():.4f}")

# %% [markdown]
# ### Step 4. Hessian-vector products by double backward
#
# Step 3 multiplies $H$ by one vector, $v = \nabla \mathcal{L}^{te}(\phi)$. We never need $H$
# itself. The vector $v$ does depend on $\theta$ (through $\phi(\theta)$), but step 3 needs
# only $H$ times the *value* of $v$, so the identity treats $v$ as a constant: for any fixed
# vector $v$,
#
# $$H v = \nabla_\theta \big( \nabla \mathcal{L}^{tr}(\theta) \cdot v \big),$$
#
# the gradient of a scalar, which a second backward pass through the graph of the first
# gradient computes: *double backward*, or reverse-over-reverse. In reverse mode, $v$ is fed in
# as a fixed cotangent, and no derivative of $v$ is taken. Pearlmutter (1994) computes the same
# product in forward mode (his $\mathcal{R}$-operator): forward-over-reverse, the `jvp` check
# below. Either way $Hv$ costs a small multiple of one gradient, where building $H$ costs $P$
# Hessian-vector products and $P^2$ entries of memory: 3.1 million for the 1-40-40-1 network
# of the experiment, $10^{14}$ for a network with ten million parameters. The memory of $Hv$
# is that of the graph of the first gradient, which grows with the activations of the batch
# and, through the inner loop, with $k$ (exercise 4 measures this). This is exactly what
# autograd did in step 3 when it differentiated through `adapt(..., first_order=False)`, which
# builds the inner gradient with `create_graph=True`.
#
# The check: double backward, and forward-over-reverse (`torch.func.jvp` of `grad`), against
# the explicit Hessian; then the meta-gradient $v - \alpha H v$ of step 3 without any
# $P \times P$ matrix.

# %%
def hvp(loss_fn, params, batch, v):
    """H v with H = hess loss_fn(params, batch): the gradient of (grad L . v); never forms H."""
    leaves = {k: p.detach().requires_grad_() for k, p in params.items()}
    g = torch.autograd.grad(loss_fn(leaves, batch), list(leaves.values()), create_graph=True)
    dot = sum((g_k * v[k]).sum() for g_k, k in zip(g, leaves))
    return dict(zip(leaves, torch.autograd.grad(dot, list(leaves.values()))))


v = unflatten(g_te_phi)
Hv_double_backward = flatten(hvp(smooth_mse, theta, support, v))
Hv_forward_over_reverse = jvp(grad(loss_tr), (theta_vec,), (g_te_phi,))[1]
assert torch.allclose(Hv_double_backward, H_tr @ g_te_phi, rtol=0, atol=1e-13)
assert torch.allclose(Hv_forward_over_reverse, H_tr @ g_te_phi, rtol=0, atol=1e-13)
assert torch.allclose(g_te_phi - alpha * Hv_double_backward, meta_grad_formula, rtol=0, atol=1e-13)
print(f"|H v| = {Hv_double_backward.norm():.4f}, matches the explicit Hessian")

# %% [markdown]
# ### Step 5. A closed form: linear regression
#
# For a linear model the whole MAML objective can be written in closed form, which gives an
# independent check of the library. A task is $y = w_*^\top x + b_*$ with $x \in \mathbb{R}^d$
# and its own $(w_*, b_*)$; the model is $f_\theta(x) = w^\top x + b$ with $\theta = (w, b)$.
# With the $n$ support inputs as rows of $X$, augmented by a 1,
# $\tilde X = [X, \mathbf{1}] \in \mathbb{R}^{n \times (d+1)}$, and their targets $y$, the
# support loss $\mathcal{L}(\theta) = \frac1n \|\tilde X \theta - y\|^2$ has
#
# $$\nabla \mathcal{L} = \tfrac{2}{n} \tilde X^\top (\tilde X \theta - y), \qquad
#   H = \tfrac{2}{n} \tilde X^\top \tilde X \;\text{(constant)},$$
#
# so one inner step is *affine* in $\theta$: $\phi_1 = M\theta + c_1$ with $M = I - \alpha H$ and
# $c_1 = \alpha \tfrac{2}{n}\tilde X^\top y$. Then $k$ steps give $\phi_k = M^k \theta + c_k$ with
# $c_k = (I + M + \dots + M^{k-1})\, c_1$, which does not depend on $\theta$, so the
# meta-gradient is $(M^k)^\top \nabla \mathcal{L}^{te}(\phi_k)$, averaged over tasks (the objective
# is a mean over tasks, see the library call below).
# `metarl_lite.tasks.linear.maml_closed_form` implements these formulas with plain matrix
# algebra; `maml_objective` differentiates through the inner loop. In float64 they agree
# to rounding error, $10^{-12}$, for one and for three inner steps. (We use
# $\alpha = 0.1$ here so that $M^k$ differs clearly from $I$.)

# %%
linear_rng = np.random.default_rng(1)
linear_tasks = [(t.sample(10, linear_rng), t.sample(10, linear_rng))
                for t in LinearRegression(dim=3).sample_tasks(4, linear_rng)]
w = init_mlp([3, 1], seed=0, dtype=torch.float64)  # f(x) = W x + b: the MLP with no hidden layer
for steps in (1, 3):
    objective = maml_objective(mse, w, linear_tasks, lr=0.1, steps=steps)
    autograd_grad = torch.autograd.grad(objective, list(w.values()))
    closed_objective, closed_grad = maml_closed_form(w, linear_tasks, lr=0.1, steps=steps)
    assert abs(objective.item() - closed_objective.item()) < 1e-12
    assert all(torch.allclose(a, closed_grad[k], rtol=0, atol=1e-12) for a, k in zip(autograd_grad, w))
    print(f"k = {steps}: J = {objective.item():.6f}, "
          f"max gradient difference {max((a - closed_grad[k]).abs().max().item() for a, k in zip(autograd_grad, w)):.1e}")

# %% [markdown]
# ### Step 6. First-order MAML
#
# The Hessian term costs a second backward pass and memory for the graph of the inner
# gradient. First-order MAML (Finn et al., 2017, Sec. 5.2) drops it, treating the inner
# gradient as a constant: the Jacobian of step 2 becomes $I$ and
#
# $$g_{\text{FOMAML}} = \nabla \mathcal{L}^{te}(\phi), \qquad
#   g_{\text{MAML}} - g_{\text{FOMAML}} = -\alpha\, H^{tr}(\theta)\, \nabla \mathcal{L}^{te}(\phi).$$
#
# Note that the gradient is still taken *at the adapted parameters* $\phi$; it is not the
# gradient at $\theta$, and it is not zero. In the library, `first_order=True` detaches each
# inner gradient, so $\phi = \theta - \alpha\,\mathrm{stopgrad}(g)$ and $\partial\phi/\partial\theta = I$.
# The check: the difference of the two library gradients is exactly $-\alpha H v$.

# %%
def library_meta_gradient(first_order):
    """grad_theta of maml_objective on our one task, as a flat vector."""
    objective = maml_objective(smooth_mse, theta, [(support, query)], lr=alpha, first_order=first_order)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(objective, list(theta.values()))])


second_order, first_order = library_meta_gradient(False), library_meta_gradient(True)
assert torch.allclose(first_order, g_te_phi, rtol=0, atol=1e-13)
assert torch.allclose(second_order - first_order, -alpha * H_tr @ g_te_phi, rtol=0, atol=1e-13)
dropped_ratio = ((alpha * H_tr @ g_te_phi).norm() / g_te_phi.norm()).item()
print(f"|alpha H grad L_te(phi)| / |grad L_te(phi)| = {dropped_ratio:.4f}")
assert dropped_ratio < 0.05, "for this network and task, the dropped term should be under 5%"

# %% [markdown]
# With $\alpha = 0.01$ the dropped term is under 5% of the first-order gradient here (the
# ratio printed above), for one tanh network at its initialization and one task: a single
# measurement, not a law. How well FOMAML does in general is an empirical question. The MAML
# paper found FOMAML nearly as good as MAML on MiniImagenet and suggests a reason: ReLU
# networks are locally almost linear, so their second derivatives are often small. The
# dropped term is not always small: it grows with $\alpha$, with the curvature of the support
# loss, and with the number of inner steps (exercise 2 measures this).
#
# ### Step 7. Several inner steps
#
# With $k$ steps, $\phi_0 = \theta$ and $\phi_{j+1} = \phi_j - \alpha \nabla \mathcal{L}^{tr}(\phi_j)$.
# Each step has the Jacobian of step 2, now evaluated where that step starts,
# $\partial \phi_{j+1}/\partial \phi_j = I - \alpha H_j$ with $H_j = \nabla^2 \mathcal{L}^{tr}(\phi_j)$.
# The chain rule multiplies them, and transposing the product reverses its order:
#
# $$\nabla_\theta\, \mathcal{L}^{te}(\phi_k)
#   = \Big(\frac{\partial \phi_k}{\partial \phi_{k-1}} \cdots \frac{\partial \phi_1}{\partial \phi_0}\Big)^{\!\top} \nabla \mathcal{L}^{te}(\phi_k)
#   = (I - \alpha H_0)(I - \alpha H_1) \cdots (I - \alpha H_{k-1})\, \nabla \mathcal{L}^{te}(\phi_k).$$
#
# Computed right to left, this is $k$ Hessian-vector products: backpropagation through the
# inner loop, one step at a time from the last to the first. The check for $k = 3$: the
# product against autograd through `adapt(steps=3)`, and both against central finite
# differences of $\theta \mapsto \mathcal{L}^{te}(\phi_3(\theta))$ in every coordinate.

# %%
k = 3
phis = [theta_vec]
for _ in range(k):
    phis.append(inner_step(phis[-1]))

product = grad(loss_te)(phis[k])
for j in reversed(range(k)):  # apply (I - alpha H_{k-1}) first, (I - alpha H_0) last
    product = product - alpha * hessian(loss_tr)(phis[j]) @ product

autograd_k = torch.autograd.grad(smooth_mse(adapt(smooth_mse, theta, support, lr=alpha, steps=k), query),
                                 list(theta.values()))
autograd_k = torch.cat([g.reshape(-1) for g in autograd_k])


def meta_loss_k(vector):
    """L_te(phi_k(theta)) for a flat theta."""
    for _ in range(k):
        vector = inner_step(vector)
    return loss_te(vector)


eps = 1e-5
finite_differences = torch.stack([(meta_loss_k(theta_vec + eps * e) - meta_loss_k(theta_vec - eps * e)) / (2 * eps)
                                  for e in eye])
assert torch.allclose(autograd_k, product, rtol=0, atol=1e-13)
assert torch.allclose(finite_differences, product, rtol=0, atol=1e-8)
print(f"max |autograd - product| = {(autograd_k - product).abs().max():.1e}, "
      f"max |finite differences - product| = {(finite_differences - product).abs().max():.1e}")

# %% [markdown]
# ## Pseudocode
#
# MAML for few-shot regression (Finn et al., 2017, Algorithm 2), with $k$ inner steps:
#
# ```
# input: task distribution p(T), inner step size alpha, outer step size beta, k
# initialize theta
# repeat
#     sample a meta-batch of tasks T_1 ... T_n ~ p(T)
#     for each task T_i:
#         sample K support points D_tr and K query points D_te from T_i
#         phi = theta
#         repeat k times: phi = phi - alpha * grad L(phi; D_tr)     (keep the graph)
#     J = sum_i L(phi_i; D_te)
#     theta = theta - beta * grad_theta J                           (Adam in practice)
# ```
#
# The meta-gradient in the last line is the product of step 7 for each task, which autograd
# computes by backpropagating through the inner loop; for FOMAML the inner gradients are
# detached.
#
# ## Library call
#
# `metarl_lite.meta.adapt(loss_fn, params, batch, lr=alpha, steps=k, first_order=False)`
# returns $\phi$; `metarl_lite.meta.maml_objective(loss_fn, params, tasks, lr=alpha, steps=k,
# first_order=False)` returns $J(\theta)$ divided by the number of tasks (a mean, so that
# the outer step size does not depend on the meta-batch size), for a list of
# `(support, query)` pairs. When all tasks have batches of the same shape, it runs the inner
# loops of all tasks as **one** call, `torch.func.vmap` over `torch.func.grad`, instead of a
# Python loop over tasks. Both compute the same value and gradient:

# %%
family = Sinusoid()


def meta_batch(n_tasks, shots, rng):
    """n_tasks tasks from p(T), each a (support, query) pair of `shots` points each."""
    return [(t.sample(shots, rng), t.sample(shots, rng)) for t in family.sample_tasks(n_tasks, rng)]


def loop_objective(params, tasks):
    """The same objective with a Python loop over tasks."""
    return torch.stack([mse(adapt(mse, params, s, lr=alpha), q) for s, q in tasks]).mean()


net = init_mlp([1, 40, 40, 1], seed=0)
tasks = meta_batch(25, 5, rng)
vmapped, looped = maml_objective(mse, net, tasks, lr=alpha), loop_objective(net, tasks)
grads_vmapped = torch.autograd.grad(vmapped, list(net.values()))
grads_looped = torch.autograd.grad(looped, list(net.values()))
assert torch.allclose(vmapped, looped, rtol=1e-5)
assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(grads_vmapped, grads_looped))


# %% [markdown]
# The speed difference, one meta-gradient for a meta-batch of 25 tasks (your numbers will
# differ):

# %%
# NBVAL_IGNORE_OUTPUT
def seconds_per_call(objective, repeats=20):
    """Mean wall time of objective(net, tasks) plus its gradient."""
    torch.autograd.grad(objective(net, tasks), list(net.values()))  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        torch.autograd.grad(objective(net, tasks), list(net.values()))
    return (time.perf_counter() - start) / repeats


t_vmap = seconds_per_call(lambda p, ts: maml_objective(mse, p, ts, lr=alpha))
t_loop = seconds_per_call(loop_objective)
print(f"vmap: {1e3 * t_vmap:.1f} ms, Python loop: {1e3 * t_loop:.1f} ms per meta-gradient "
      f"({t_loop / t_vmap:.1f}x faster)")

# %% [markdown]
# ## Experiment: MAML against a pretrained network on sinusoids
#
# Both networks are 1-40-40-1 ReLU MLPs with the same initialization, trained with Adam
# ($\beta = 10^{-3}$) on meta-batches of 25 tasks with $K = 5$ support and 5 query points,
# for 1000 iterations (the paper's code trains for 70 000, and the paper meta-trains with
# $K = 10$; this budget takes well under a minute):
#
# * **MAML** minimizes the query loss after one inner step of size $\alpha = 0.01$;
# * **pretrained** minimizes the loss of the network itself on all 10 points of each task.

# %%
ITERATIONS = 1000
maml_theta = init_mlp([1, 40, 40, 1], seed=0)
pretrained_theta = init_mlp([1, 40, 40, 1], seed=0)
maml_optimizer = torch.optim.Adam(maml_theta.values(), lr=1e-3)
pretrained_optimizer = torch.optim.Adam(pretrained_theta.values(), lr=1e-3)
history = {"MAML (query loss after 1 step)": [], "pretrained (loss on all points)": []}

for iteration in trange(ITERATIONS, desc="MAML and pretraining"):
    tasks = meta_batch(25, 5, rng)
    maml_loss = maml_objective(mse, maml_theta, tasks, lr=alpha)
    maml_optimizer.zero_grad()
    maml_loss.backward()
    maml_optimizer.step()

    x = torch.cat([batch[0] for pair in tasks for batch in pair])
    y = torch.cat([batch[1] for pair in tasks for batch in pair])
    pretrained_loss = mse(pretrained_theta, (x, y))
    pretrained_optimizer.zero_grad()
    pretrained_loss.backward()
    pretrained_optimizer.step()
    for curve, loss in zip(history.values(), (maml_loss, pretrained_loss)):
        curve.append(loss.item())

fig, ax = plt.subplots(figsize=(7, 3.5))
for label, curve in history.items():
    ax.plot(np.convolve(curve, np.ones(50) / 50, mode="valid"), label=label)
ax.set_xlabel("training iteration")
ax.set_ylabel("training loss (MSE, 50-iteration mean)")
ax.set_title("Training: the two methods minimize different objectives")
ax.legend()
plt.show()

# %% [markdown]
# To evaluate, we take 100 held-out tasks, adapt each network on $K = 5$ support points of
# each task with 0 to 10 gradient steps of size $\alpha = 0.01$, and measure the MSE on the
# five support points (what the steps minimize) and on 100 query points of the same task
# (what we care about). `metarl_lite.widgets.adaptation_curves` runs the inner loops of all
# tasks as one `vmap` and averages over tasks.

# %%
test_rng = np.random.default_rng(2017)
test_tasks = [(t.sample(5, test_rng), t.sample(100, test_rng)) for t in family.sample_tasks(100, test_rng)]
curves = {"MAML": adaptation_curves(maml_theta, test_tasks, lr=alpha, steps=10),
          "pretrained": adaptation_curves(pretrained_theta, test_tasks, lr=alpha, steps=10)}

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for ax, split in zip(axes, ("support", "query")):
    for label, curve in curves.items():
        ax.plot(range(11), curve[split], marker="o", label=label)
    ax.set_xlabel("gradient steps on the K = 5 support points")
    ax.set_ylabel(f"{split} MSE (100 held-out tasks)")
    ax.legend()
axes[0].set_title("what the inner steps minimize")
axes[1].set_title(f"what we care about (alpha = {alpha})")
plt.tight_layout()
plt.show()
for label, curve in curves.items():
    print(f"{label:>10}: query MSE after 0/1/5/10 steps = " + " / ".join(f"{curve['query'][s]:.2f}" for s in (0, 1, 5, 10)))

assert curves["MAML"]["query"][1] < curves["pretrained"]["query"][1], "MAML after one step should beat pretraining"
assert curves["MAML"]["query"][1] < curves["MAML"]["query"][0], "one step should help MAML's initialization"
assert curves["pretrained"]["support"][1] < curves["pretrained"]["support"][0], "the step does fit the support set"

# %% [markdown]
# Why does pretraining fail? Trained on all tasks at once, a network learns the *average*
# task, the function $\mathbb{E}[y \mid x]$. For our sinusoids
# $\mathbb{E}_\varphi[\sin(x - \varphi)] = \frac1\pi \int_0^\pi \sin(x - \varphi)\, d\varphi = -\frac{2}{\pi}\cos x$,
# so $\mathbb{E}[y \mid x] = -\frac{2\,\mathbb{E}[A]}{\pi} \cos x$ with $\mathbb{E}[A] = 2.55$.
# One small gradient step from that function cannot reach a sinusoid of a different
# amplitude and phase. The left panel shows that the step does its job, the support loss
# falls; the right panel shows that this does not generalize: the pretrained network bends
# towards the five points and stays wrong (or gets worse) everywhere else.
#
# MAML's initialization is no better than the pretrained one before adaptation: both have
# about the query MSE of the mean function $m(x) = \mathbb{E}[y \mid x]$, the best a
# task-agnostic predictor can do (chapter 01, Step 4). What differs is where one step takes
# each of them: from MAML's initialization, one step goes a long way. The check: the
# pretrained network is close to the mean function, and before adaptation both networks score
# about what $m(x)$ scores on the same held-out tasks.

# %%
x_grid = torch.linspace(-5, 5, 200)[:, None]
mean_A = sum(family.amplitude_range) / 2  # E[A] for A ~ U[0.1, 5]


def mean_function(x):
    """m(x) = E[y | x] = -(2 / pi) E[A] cos x, the average task."""
    return -2 * mean_A / np.pi * torch.cos(x)


with torch.no_grad():
    distance = (mlp(pretrained_theta, x_grid) - mean_function(x_grid)).square().mean()
mean_function_query = np.mean([(mean_function(x) - y).square().mean().item() for _, (x, y) in test_tasks])
print(f"MSE(pretrained, mean function) = {distance:.3f}; mean square of the mean function = "
      f"{mean_function(x_grid).square().mean():.3f}")
print(f"query MSE before adaptation: MAML {curves['MAML']['query'][0]:.2f}, pretrained "
      f"{curves['pretrained']['query'][0]:.2f}, mean function m(x) {mean_function_query:.2f}")
assert distance < 0.1 * mean_function(x_grid).square().mean()
assert curves["MAML"]["query"][0] > 0.9 * curves["pretrained"]["query"][0], "before adaptation, MAML is no better"
assert all(abs(curve["query"][0] - mean_function_query) < 0.1 * mean_function_query for curve in curves.values())

# %% [markdown]
# The fits themselves, for one held-out task: dashed lines are each network before
# adaptation, solid lines after 0, 1 and 10 steps on the five black points.
# `metarl_lite.widgets.adapted_fit` computes what is drawn.

# %%
demo_task = family.sample_tasks(1, np.random.default_rng(7))[0]
inits = {"MAML": maml_theta, "pretrained": pretrained_theta}
fig, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True)
for ax, steps in zip(axes, (0, 1, 10)):
    fits = {name: adapted_fit(params, demo_task, lr=alpha, steps=steps, shots=5, seed=0)
            for name, params in inits.items()}
    plot_adapted_fits(ax, fits, title=f"after {steps} step{'s' if steps != 1 else ''}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Try it: step size and number of steps
#
# Move the sliders: $\alpha$ (log scale) and the number of steps $k$. Things to look for:
# MAML was trained for $\alpha = 0.01$ and one step; what happens with more steps, or a step
# ten times larger? How large must $\alpha$ be before the pretrained network moves visibly,
# and what does its fit look like then?

# %%
# NBVAL_IGNORE_OUTPUT
adaptation_widget(inits, demo_task, lr=alpha, steps=1, shots=5, seed=0)

# %% [markdown]
# ## Reference results at paper scale
#
# The paper's code trains for 70 000 iterations. The command-line tool runs this protocol
# (Reptile: 30 000 iterations; random is untrained) for every method of this course, 5-shot
# and 10-shot, and evaluates on 600 held-out tasks. For the pretrained network and the random
# initialization, $\alpha$ is chosen from a small grid on 600 separate validation tasks (the
# paper tuned the pretrained network's step size too). One run:
#
# ```
# metarl-lite train --algo maml --task sinusoid --config paper --shots 5 --out results/sinusoid/maml_5shot
# metarl-lite evaluate results/sinusoid/maml_5shot --adapt-steps 10 --json
# ```
#
# and `make reproduce` runs them all (hours on a CPU). The cell below reads the stored
# results, `../results/sinusoid/<algo>_<K>shot/evaluation.json`, and sets beside them the MAML
# paper's reported 5-shot values (read off its Figure 3, whose model was meta-trained with
# $K = 10$): 0.67 / 0.38 / 0.35 for MAML and 2.41 / 2.23 / 2.19 for the pretrained network,
# after 1 / 5 / 10 steps. Set `RECOMPUTE = True` to regenerate them first.

# %%
RECOMPUTE = False

# %%
# NBVAL_IGNORE_OUTPUT
RESULTS = Path("../results/sinusoid")
if RECOMPUTE:
    subprocess.run(["make", "-C", "..", "reproduce"], check=True)
display(Markdown(results_table(RESULTS)))

# %% [markdown]
# The claims of this chapter at paper scale, checked on the stored runs: MAML after one step
# beats the pretrained network after ten; and against the MAML paper's reported 5-shot values
# (read off its Figure 3, whose model was meta-trained with $K = 10$), our MAML, meta-trained
# with $K = 5$, matches or beats them after 1, 5 and 10 steps (within the 95% half-width over
# 600 test tasks). The pretrained network's step size is chosen on 600 validation tasks, by
# the mean query MSE over steps 1 to 10, so a step size that diverges on a few tasks is not
# picked: its 10-shot errors stay moderate at every step.

# %%
def stored(run):
    """The evaluation.json of a stored run folder, as a dict."""
    return json.loads((RESULTS / run / "evaluation.json").read_text())


maml, pretrained = stored("maml_5shot"), stored("pretrain_5shot")
assert maml["after_steps"][1] < pretrained["after_steps"][10]
for steps, paper in zip((1, 5, 10), PAPER_5SHOT["maml"]):
    assert maml["after_steps"][steps] - maml["ci95"][steps] <= paper, (steps, maml["after_steps"][steps], paper)
assert all(v < 10 for v in stored("pretrain_10shot")["after_steps"])

# %% [markdown]
# ## What to remember
#
# * MAML learns an initialization $\theta$ for which one or a few gradient steps on $K$
#   examples of a new task, $\phi = \theta - \alpha \nabla \mathcal{L}^{tr}(\theta)$, give a low
#   loss on new examples of that task: $\min_\theta \sum_i \mathcal{L}^{te}_i(\phi_i(\theta))$.
# * The meta-gradient is $(I - \alpha H^{tr})\nabla \mathcal{L}^{te}(\phi)$: the query gradient
#   at the **adapted** parameters, corrected by the curvature of the support loss. With $k$
#   steps it is $(I - \alpha H_0)\cdots(I - \alpha H_{k-1}) \nabla \mathcal{L}^{te}(\phi_k)$.
# * It never needs a Hessian: Hessian-vector products by double backward (what autograd does
#   through `create_graph=True`) cost a few gradients; their memory is the graph of the inner
#   gradients, which grows with the batch's activations and with $k$ (exercise 4).
# * First-order MAML drops the $\alpha H$ term; its gradient is $\nabla \mathcal{L}^{te}(\phi)$,
#   not zero and not the gradient at $\theta$.
# * A pretrained network learns the average task, which a small step cannot turn into a
#   particular one. MAML's initialization is no better before adaptation (both score about
#   the MSE of the mean function $m(x)$, the best a task-agnostic predictor can do); what
#   differs is where one step takes it.
# * In code: `adapt` and `maml_objective`, with `torch.func.vmap` over the meta-batch.
#
# ## Exercises
#
# 1. **Closed form, by hand.** For one linear-regression task with $d = 1$, write $J(\theta)$
#    after one step as a quadratic in $\theta = (w, b)$ and find its minimizer. Check it with
#    `maml_closed_form` (the gradient there should vanish). How does the minimizer move as
#    $\alpha$ grows?
# 2. **When is first order enough?** Repeat step 6 with $\alpha \in \{0.001, 0.01, 0.1\}$ and
#    with $k = 1, 3, 10$ inner steps. Plot $\|g_{\text{MAML}} - g_{\text{FOMAML}}\| / \|g_{\text{MAML}}\|$.
#    Then train FOMAML in the experiment (`first_order=True`) and compare its adaptation curve.
# 3. **A fair baseline.** The pretrained network was fine-tuned with MAML's $\alpha = 0.01$.
#    Search $\alpha$ over a grid for it (on *validation* tasks, not the test tasks) and redo
#    the adaptation plot. Does a better step size close the gap? Why not?
# 4. **The cost of second order.** Time one meta-gradient with $k = 1, 2, 5, 10$ inner steps,
#    with and without `first_order=True`. How do time and peak memory grow with $k$?
# 5. **More steps at training time.** Train MAML with `steps=5` in `maml_objective` and
#    evaluate after 0 to 10 steps. Where does the curve drop fastest now?
#
# ## References
#
# * C. Finn, P. Abbeel, S. Levine. *Model-Agnostic Meta-Learning for Fast Adaptation of Deep
#   Networks.* ICML 2017. arXiv:1703.03400. (The objective, Algorithm 2, first-order MAML,
#   the sinusoid experiment.)
# * B. A. Pearlmutter. *Fast Exact Multiplication by the Hessian.* Neural Computation 6(1),
#   1994. (Hessian-vector products without the Hessian.)
# * A. Nichol, J. Achiam, J. Schulman. *On First-Order Meta-Learning Algorithms.*
#   arXiv:1803.02999, 2018. (First-order MAML and Reptile, analysed in chapter 03.)
# * A. Antoniou, H. Edwards, A. Storkey. *How to Train Your MAML.* ICLR 2019. (Practical
#   instabilities of second-order MAML and their fixes.)
