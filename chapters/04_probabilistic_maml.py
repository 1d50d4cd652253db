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
# # 04 · Probabilistic MAML (PLATIPUS)
#
# **Goal.** MAML (chapter 02) adapts one initialization $\theta$ to one set of parameters
# $\phi$. When a handful of points leaves the task *ambiguous*, one answer is not enough: we
# want several plausible functions that agree where there is data and disagree where there is
# none. By the end of this chapter you can
#
# * say why a point estimate of $\theta$ cannot represent that ambiguity;
# * write PLATIPUS' graphical model and derive its evidence lower bound (ELBO), each step
#   checked numerically: the Gaussian likelihood, the Gaussian KL divergence, the
#   reparameterization trick, and the bound itself on a problem whose evidence is exact;
# * train `metarl_lite.meta.Platipus` on lines-or-sinusoids and measure where its sampled
#   functions agree and where they spread out;
# * keep two names apart: PLATIPUS is probabilistic MAML, **ProMP is not**.
#
# ## Background: why one $\theta$ is not enough
#
# A task $\mathcal{T}$ here is a function $y = g_\mathcal{T}(x)$ observed with Gaussian noise.
# The task family `metarl_lite.tasks.Ambiguous` (after the ambiguous-regression experiment
# of Finn, Xu & Levine 2018) draws, with
# probability 1/2 each, a **line** $y = a x + b$ with $a, b \sim U[-3, 3]$ or a **sinusoid**
# $y = A \sin(x - \varphi)$ with $A \sim U[0.1, 5]$, $\varphi \sim U[0, \pi]$, and adds noise
# of standard deviation $0.3$. The $K$ support points $\mathcal{D}^{tr}$ come from the narrow
# window $x \in [-2, 2]$ (a choice of this course, to make the ambiguity easy to see), the
# query points $\mathcal{D}^{te}$ from all of $[-5, 5]$.
#
# Five points from a window of width 4 can fail to tell a line from a sinusoid. The cell
# below makes that concrete (and prints how many tasks it had to scan to find such a clear
# case: it is not the typical task). Both hypotheses are linear in their coefficients
# ($a x + b$, and $A \sin(x - \varphi) = A\cos\varphi \,\sin x - A \sin\varphi \,\cos x$), so
# each has an exact least-squares fit. We scan tasks of the family, in a fixed random order,
# until we find a support set that **both** fits explain to within the noise level (root mean
# squared residual below $0.3$), whose two fits stay within two noise levels ($0.6$) of each
# other over the whole window, and which **disagree** by more than $3$ somewhere outside it.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence
from torch.func import grad, vmap
from tqdm.auto import tqdm

import metarl_lite
from metarl_lite.meta import Platipus, adapt, maml_objective
from metarl_lite.meta.platipus import gaussian_kl
from metarl_lite.nn import init_mlp, mlp, mse_loss
from metarl_lite.tasks import Ambiguous

K = 5  # support points per task (shots)
family = Ambiguous()
NOISE = family.noise_std
WINDOW = family.support_range
x_grid = np.linspace(*family.query_range, 201)
in_window = (x_grid >= WINDOW[0]) & (x_grid <= WINDOW[1])

FEATURES = {  # hypothesis -> features whose least-squares coefficients fit it exactly
    "line  a x + b": lambda x: np.stack([x, np.ones_like(x)], axis=-1),
    "sinusoid A sin(x - phase)": lambda x: np.stack([np.sin(x), np.cos(x)], axis=-1),
}


def least_squares_fits(x, y):
    """{hypothesis: (rms residual on the support set, prediction on x_grid)}."""
    fits = {}
    for name, features in FEATURES.items():
        coefficients, *_ = np.linalg.lstsq(features(x), y, rcond=None)
        rms = np.sqrt(np.mean((features(x) @ coefficients - y) ** 2))
        fits[name] = (rms, features(x_grid) @ coefficients)
    return fits


rng = metarl_lite.seed_everything(0)
for scanned in range(1, 1001):
    task = family.sample_tasks(1, rng)[0]
    x_tr, y_tr = (v.numpy()[:, 0] for v in task.sample(K, rng))
    fits = least_squares_fits(x_tr, y_tr)
    (rms_line, line), (rms_sine, sine) = fits.values()
    gap_inside, gap_outside = np.abs(line - sine)[in_window].max(), np.abs(line - sine)[~in_window].max()
    if max(rms_line, rms_sine) < NOISE and gap_inside < 2 * NOISE and gap_outside > 3:
        break
print(f"task {scanned} of the scan is a {task.kind}; rms residual: line {rms_line:.3f}, sinusoid {rms_sine:.3f}")
print(f"largest disagreement of the two fits: {gap_inside:.2f} inside the window, {gap_outside:.2f} outside")
assert max(rms_line, rms_sine) < NOISE, "both hypotheses explain the support set to within the noise"
assert gap_inside < 2 * NOISE and gap_outside > 3, "they agree inside the window and disagree outside"

fig, ax = plt.subplots(figsize=(7, 3.8))
ax.axvspan(*WINDOW, color="0.92", label="support window")
ax.plot(x_grid, task(x_grid), color="black", linewidth=2, label=f"true function (a {task.kind})")
for (name, (rms, prediction)), style in zip(fits.items(), ["--", ":"]):
    ax.plot(x_grid, prediction, style, linewidth=2, label=f"best {name}, rms residual {rms:.2f}")
ax.scatter(x_tr, y_tr, color="black", zorder=3, label=f"K = {K} support points")
ax.set_xlabel("input x")
ax.set_ylabel("output y")
ax.set_title("Two hypotheses, both consistent with the same five points")
ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# A learner that returns one function must either bet on one of them or average them; far
# from the window it is then wrong, and nothing in its output says so. A *probabilistic*
# learner returns a distribution over functions: tight inside the window, where the data pin
# the function down, and wide outside, where the data say nothing. MAML's adaptation
# $\phi = \theta - \alpha \nabla_\theta \mathcal{L}(\theta, \mathcal{D}^{tr})$ is a
# deterministic function of $\theta$ and the data, so PLATIPUS (*Probabilistic LATent model
# for Incorporating Priors and Uncertainty in few-Shot learning*, Finn, Xu & Levine 2018)
# puts the randomness in $\theta$ itself: a distribution over initializations, and one
# gradient step from each sample.
#
# ## The graphical model
#
# For each task $i = 1, \dots, N$ the model has task parameters $\phi_i$, which generate the
# outputs of both the support inputs and the query inputs; all tasks share the
# meta-parameters $\theta$:
#
# $$\theta \sim p(\theta), \qquad
#   \phi_i \mid \theta \sim p(\phi_i \mid \theta), \qquad
#   y \mid x, \phi_i \sim \mathcal{N}\big(f_{\phi_i}(x), s^2\big)
#   \ \text{ for every } (x, y) \in \mathcal{D}^{tr}_i \cup \mathcal{D}^{te}_i,$$
#
# where $f_\phi$ is the network with parameters $\phi$ and $s$ is the likelihood's noise
# standard deviation (`noise_std`). Shaded nodes are observed during meta-training; at test
# time $y^{te}$ is what we want to predict. The dashed edges from the support data to
# $\theta$ are not part of this generative model: they are PLATIPUS' addition (the paper's
# Figure 1, right), approximation 2 below, a learned Gaussian $p(\theta \mid \mathcal{D}^{tr}_i)$
# computed from each task's support set.

# %%
NODES = {  # name -> (x, y, label, observed)
    "theta": (2.0, 3.4, r"$\theta$", False),
    "phi": (2.0, 1.8, r"$\phi_i$", False),
    "x_tr": (0.4, 1.8, r"$x^{tr}_i$", True),
    "y_tr": (1.1, 0.6, r"$y^{tr}_i$", True),
    "x_te": (3.6, 1.8, r"$x^{te}_i$", True),
    "y_te": (2.9, 0.6, r"$y^{te}_i$", True),
}
EDGES = [  # (start, end, dashed): solid edges are the generative model, dashed ones PLATIPUS' p(theta | D_tr)
    ("theta", "phi", False), ("phi", "y_tr", False), ("phi", "y_te", False), ("x_tr", "y_tr", False),
    ("x_te", "y_te", False), ("x_tr", "theta", True), ("y_tr", "theta", True),
]
RADIUS = 0.32

fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.add_patch(FancyBboxPatch((-0.1, -0.25), 4.2, 2.55, boxstyle="round,pad=0.05", fill=False, edgecolor="0.4"))
ax.text(4.0, -0.1, r"tasks $i = 1, \dots, N$", ha="right", va="center", fontsize=9, color="0.3")
for name, (x, y, label, observed) in NODES.items():
    ax.add_patch(Circle((x, y), RADIUS, facecolor="0.8" if observed else "white", edgecolor="black", zorder=2))
    ax.text(x, y, label, ha="center", va="center", fontsize=13, zorder=3)
for start, end, dashed in EDGES:  # arrows from circle edge to circle edge
    p0, p1 = np.array(NODES[start][:2]), np.array(NODES[end][:2])
    unit = (p1 - p0) / np.linalg.norm(p1 - p0)
    ax.add_patch(FancyArrowPatch(p0 + RADIUS * unit, p1 - RADIUS * unit, arrowstyle="-|>", mutation_scale=15,
                                 shrinkA=0, shrinkB=0, color="tab:blue" if dashed else "black",
                                 linestyle="--" if dashed else "-"))
ax.text(2.45, 3.4, r"$\theta \sim \mathcal{N}(\mu_\theta, \sigma_\theta^2)$", va="center", fontsize=10)
ax.text(2.1, 2.75, r"estimate: $\phi_i = \theta - \alpha \nabla_\theta \mathcal{L}(\theta, \mathcal{D}^{tr}_i)$",
        va="center", fontsize=9)
ax.set_xlim(-0.3, 4.6)
ax.set_ylim(-0.4, 3.8)
ax.set_aspect("equal")
ax.axis("off")
ax.set_title(r"PLATIPUS: per-task $\phi_i$, observed data shaded;" "\n"
             r"dashed: the learned $p(\theta \mid \mathcal{D}^{tr}_i)$ that stands in for the posterior", fontsize=10)
plt.show()

# %% [markdown]
# Two approximations make this tractable.
#
# 1. **$\phi_i$ is a point, computed by MAML's step.** Instead of integrating over
#    $p(\phi_i \mid \theta, \mathcal{D}^{tr}_i)$, PLATIPUS uses
#    $\phi_i = \theta - \alpha \nabla_\theta \mathcal{L}(\theta, \mathcal{D}^{tr}_i)$.
#    Gradient descent from $\theta$, stopped early, computes the MAP estimate under a Gaussian
#    prior centred at $\theta$: exactly for a quadratic loss, approximately otherwise (Grant et
#    al. 2018). So $\phi_i = \phi(\theta, \mathcal{D}^{tr}_i)$ is a
#    deterministic function, and all uncertainty lives in $\theta$.
# 2. **$\theta$'s distribution given a task's support set is a Gaussian whose mean takes a
#    gradient step.** With learned $\mu_\theta$, $\sigma_\theta$ and step sizes $\gamma_p$
#    (one per parameter tensor),
#    $$p(\theta \mid \mathcal{D}^{tr}) = \mathcal{N}\big(\mu_\theta - \gamma_p \nabla_{\mu_\theta}
#      \mathcal{L}(\mu_\theta, \mathcal{D}^{tr}),\ \sigma_\theta^2\big).$$
#    This is the "prior" that test-time sampling uses: it has seen only the support set. It
#    replaces the model's posterior over $\theta$ given the support set,
#    $p(\theta) \int p(y^{tr} \mid x^{tr}, \phi)\, p(\phi \mid \theta)\, d\phi$ normalized,
#    which is intractable for a neural network (the dashed edges of the figure).
#
# With these, the quantity to maximize for one task is the **predictive log-likelihood** of the
# query outputs given the support set:
#
# $$\log p(y^{te} \mid x^{te}, \mathcal{D}^{tr}) = \log \int p\big(y^{te} \mid x^{te},
#   \phi(\theta, \mathcal{D}^{tr})\big)\, p(\theta \mid \mathcal{D}^{tr})\, d\theta .$$
#
# The integral over all initializations of a neural network is intractable, so we bound it.
#
# ## Key equations
#
# For **any** distribution $q(\theta)$ (PLATIPUS uses one built from the query set),
#
# $$\boxed{\log p(y^{te} \mid x^{te}, \mathcal{D}^{tr}) \;\ge\;
#   \mathbb{E}_{\theta \sim q}\big[\log p(y^{te} \mid x^{te}, \phi(\theta, \mathcal{D}^{tr}))\big]
#   \;-\; \mathrm{KL}\big(q(\theta \mid \mathcal{D}^{te}) \,\|\, p(\theta \mid \mathcal{D}^{tr})\big)}$$
#
# with the **inference network** (a gradient step on the *query* loss, learned step $\gamma_q$
# and variance $v_q$)
#
# $$q(\theta \mid \mathcal{D}^{te}) = \mathcal{N}\big(\mu_\theta - \gamma_q
#   \nabla_{\mu_\theta} \mathcal{L}(\mu_\theta, \mathcal{D}^{te}),\ v_q\big).$$
#
# (The library's docstring writes $q(\theta \mid \mathcal{D}^{tr}, \mathcal{D}^{te})$, for the
# data the ELBO sees. But $q$'s mean is a function of the query set $\mathcal{D}^{te}$ only,
# and its variance $v_q$ of no data at all, so we write $q(\theta \mid \mathcal{D}^{te})$. The
# support set enters the ELBO through $\phi(\theta, \mathcal{D}^{tr})$ and the prior.)
#
# PLATIPUS maximizes the right-hand side, the ELBO, summed over tasks, with respect to
# $\Theta = \{\mu_\theta, \sigma_\theta, v_q, \gamma_p, \gamma_q\}$. To **predict** on a new
# task, only the support set is available, so it samples from the prior instead of $q$:
#
# $$\theta_m \sim p(\theta \mid \mathcal{D}^{tr}), \qquad
#   \phi_m = \theta_m - \alpha \nabla_\theta \mathcal{L}(\theta_m, \mathcal{D}^{tr}), \qquad
#   m = 1, \dots, S,$$
#
# and the $S$ functions $f_{\phi_m}$ are samples of what the task might be.
#
# ## Derivation
#
# **The bound.** Multiply and divide by $q$ inside the integral, then use Jensen's
# inequality ($\log$ is concave, so $\log \mathbb{E}[Z] \ge \mathbb{E}[\log Z]$):
#
# $$\log p(y^{te} \mid x^{te}, \mathcal{D}^{tr})
#   = \log \mathbb{E}_{\theta \sim q}\Big[\frac{p(y^{te} \mid x^{te}, \phi(\theta))\, p(\theta \mid \mathcal{D}^{tr})}{q(\theta)}\Big]
#   \ge \mathbb{E}_{q}\big[\log p(y^{te} \mid x^{te}, \phi(\theta))\big]
#      - \mathbb{E}_{q}\Big[\log \frac{q(\theta)}{p(\theta \mid \mathcal{D}^{tr})}\Big].$$
#
# The last expectation is $\mathrm{KL}(q \,\|\, p(\theta \mid \mathcal{D}^{tr}))$. Keeping
# track of what Jensen dropped gives the exact identity
#
# $$\log p(y^{te} \mid x^{te}, \mathcal{D}^{tr}) = \mathrm{ELBO}(q)
#   + \mathrm{KL}\big(q(\theta) \,\|\, p(\theta \mid \mathcal{D}^{tr}, \mathcal{D}^{te})\big),$$
#
# with $p(\theta \mid \mathcal{D}^{tr}, \mathcal{D}^{te}) \propto p(y^{te} \mid x^{te}, \phi(\theta))\,
# p(\theta \mid \mathcal{D}^{tr})$, the exact posterior of this model given both data sets. So
# the gap is $\mathrm{KL}(q \,\|\, p(\theta \mid \mathcal{D}^{tr}, \mathcal{D}^{te}))$: the bound
# holds for every $q$ and is tight exactly when $q$ is that posterior. Steps 1 to 3
# check the three ingredients of the ELBO, step 4 checks this identity on a problem where
# every term is available in closed form, and step 5 checks that the library computes this
# bound.
#
# **Step 1 (the Gaussian log-likelihood).** With $y \mid x, \phi \sim
# \mathcal{N}(f_\phi(x), s^2)$ independently for the $n$ query points,
#
# $$\log p(y^{te} \mid x^{te}, \phi) = \sum_{j=1}^{n} \Big[-\frac{(y_j - f_\phi(x_j))^2}{2 s^2}
#   - \log s - \tfrac12 \log 2\pi\Big]
#   = -\frac{n}{2 s^2}\,\mathrm{MSE} - n \log\big(s \sqrt{2\pi}\big).$$
#
# So maximizing the likelihood is minimizing the mean squared error, and $s$ sets how much
# the data weigh against the KL term. We compare the formula with
# `torch.distributions.Normal.log_prob`, and its second form with the MSE.

# %%
check = torch.Generator().manual_seed(0)
n, s = 7, 0.3
predictions = torch.randn(n, dtype=torch.float64, generator=check)
targets = predictions + s * torch.randn(n, dtype=torch.float64, generator=check)

formula = (-((targets - predictions) ** 2) / (2 * s**2) - math.log(s) - 0.5 * math.log(2 * math.pi)).sum()
torch_log_prob = Normal(predictions, s).log_prob(targets).sum()
from_mse = -n / (2 * s**2) * ((targets - predictions) ** 2).mean() - n * math.log(s * math.sqrt(2 * math.pi))
print(f"log-likelihood: formula {formula:.10f}, Normal.log_prob {torch_log_prob:.10f}, from the MSE {from_mse:.10f}")
assert torch.allclose(formula, torch_log_prob, atol=1e-12, rtol=0)
assert torch.allclose(formula, from_mse, atol=1e-12, rtol=0)

# %% [markdown]
# **Step 2 (KL between diagonal Gaussians).** For $q = \mathcal{N}(m_q, \mathrm{diag}\, v_q)$ and
# $p = \mathcal{N}(m_p, \mathrm{diag}\, v_p)$, the log-density ratio is a sum over
# coordinates, and the expectation of a quadratic under a Gaussian is
# $\mathbb{E}_q[(\theta - m_p)^2] = v_q + (m_q - m_p)^2$. Hence
#
# $$\mathrm{KL}(q \,\|\, p) = \mathbb{E}_q\Big[\log \frac{q(\theta)}{p(\theta)}\Big]
#   = \frac12 \sum_j \Big[\log \frac{v_{p,j}}{v_{q,j}} + \frac{v_{q,j} + (m_{q,j} - m_{p,j})^2}{v_{p,j}} - 1\Big].$$
#
# The library's `gaussian_kl(mean_q, var_q, mean_p, var_p)` computes this for dictionaries of
# tensors (one entry per network parameter) and sums over everything. We compare it with
# `torch.distributions.kl_divergence` and with a Monte-Carlo average of
# $\log q(\theta) - \log p(\theta)$ over samples $\theta \sim q$, which must agree to within a
# few standard errors.

# %%
shapes = {"0.weight": (3, 1), "0.bias": (3,)}  # a small "network" of two tensors
mean_q = {k: torch.randn(shape, dtype=torch.float64, generator=check) for k, shape in shapes.items()}
mean_p = {k: torch.randn(shape, dtype=torch.float64, generator=check) for k, shape in shapes.items()}
var_q = {k: 0.2 + torch.rand(shape, dtype=torch.float64, generator=check) for k, shape in shapes.items()}
var_p = {k: 0.2 + torch.rand(shape, dtype=torch.float64, generator=check) for k, shape in shapes.items()}


def diagonal_gaussian(mean, var):
    """One multivariate Normal over all entries of a parameter dict."""
    flat = lambda d: torch.cat([d[k].reshape(-1) for k in shapes])  # noqa: E731
    return Independent(Normal(flat(mean), flat(var).sqrt()), 1)


q_dist, p_dist = diagonal_gaussian(mean_q, var_q), diagonal_gaussian(mean_p, var_p)
closed_form = gaussian_kl(mean_q, var_q, mean_p, var_p)
torch_kl = kl_divergence(q_dist, p_dist)
samples = q_dist.sample((200_000,))
log_ratios = q_dist.log_prob(samples) - p_dist.log_prob(samples)
monte_carlo, standard_error = log_ratios.mean(), log_ratios.std() / math.sqrt(len(log_ratios))
print(f"KL: gaussian_kl {closed_form:.10f}, torch kl_divergence {torch_kl:.10f}, "
      f"Monte Carlo {monte_carlo:.4f} +- {standard_error:.4f}")
assert torch.allclose(closed_form, torch_kl, atol=1e-12, rtol=0)
assert abs(monte_carlo - closed_form) < 4 * standard_error

# %% [markdown]
# **Step 3 (the reparameterization trick).** The ELBO's first term is an expectation over
# $\theta \sim q$, and we need its gradient with respect to $q$'s mean and variance.
# Writing a sample as a deterministic function of parameter-free noise,
#
# $$\theta = m + \sqrt{v} \odot \varepsilon, \qquad \varepsilon \sim \mathcal{N}(0, I),$$
#
# moves the parameters out of the distribution:
# $\nabla_{m, v} \mathbb{E}_{q}[h(\theta)] = \mathbb{E}_\varepsilon\big[\nabla_{m, v}
# h(m + \sqrt{v} \odot \varepsilon)\big]$. So the average of autograd gradients over samples
# is an **unbiased** estimate of the exact gradient. We check it on a quadratic
# $h(\theta) = \tfrac12 (\theta - c)^\top H (\theta - c)$, whose expectation is known exactly:
#
# $$\mathbb{E}_q[h] = \tfrac12 (m - c)^\top H (m - c) + \tfrac12 \sum_j H_{jj} v_j
#   \quad\Rightarrow\quad \nabla_m = H (m - c), \qquad \nabla_{v_j} = \tfrac12 H_{jj}.$$
#
# Each coordinate of the Monte-Carlo average must lie within a few standard errors of the
# exact gradient (the standard error comes from the spread of the per-sample gradients).

# %%
d = 4
root = torch.randn(d, d, dtype=torch.float64, generator=check)
H = root @ root.T + torch.eye(d, dtype=torch.float64)  # symmetric positive definite
c = torch.randn(d, dtype=torch.float64, generator=check)
m = torch.randn(d, dtype=torch.float64, generator=check)
v = 0.1 + torch.rand(d, dtype=torch.float64, generator=check)


def h_of_sample(m, v, eps):
    """h(theta) at the reparameterized sample theta = m + sqrt(v) * eps."""
    theta = m + v.sqrt() * eps
    return 0.5 * (theta - c) @ H @ (theta - c)


eps = torch.randn(100_000, d, dtype=torch.float64, generator=check)
grad_m, grad_v = vmap(grad(h_of_sample, argnums=(0, 1)), in_dims=(None, None, 0))(m, v, eps)  # [samples, d] each
exact_m, exact_v = H @ (m - c), 0.5 * torch.diagonal(H)
for name, per_sample, exact in [("d/dm", grad_m, exact_m), ("d/dv", grad_v, exact_v)]:
    estimate, error = per_sample.mean(0), per_sample.std(0) / math.sqrt(len(per_sample))
    z = ((estimate - exact) / error).abs().max()
    print(f"{name}: exact {exact.numpy().round(4)}, Monte Carlo {estimate.numpy().round(4)}, largest |z| {z:.2f}")
    assert z < 4, f"the reparameterized gradient {name} is off by {z:.1f} standard errors"

# %% [markdown]
# **Step 4 (the bound on a conjugate problem).** Take PLATIPUS with the smallest possible
# network, a line $f_\theta(x) = w x + b$, $\theta = (w, b)$. With features $z(x) = (x, 1)$ and
# $Z$ the matrix of features of a data set, the mean squared error on $(Z, y)$ with $n$
# points has gradient $\frac{2}{n} Z^\top (Z\theta - y)$, so MAML's step is **affine** in
# $\theta$:
#
# $$\phi(\theta) = A\theta + a, \qquad A = I - \tfrac{2\alpha}{K} Z_{tr}^\top Z_{tr}, \qquad
#   a = \tfrac{2\alpha}{K} Z_{tr}^\top y^{tr}.$$
#
# Then $y^{te} = Z_{te}\phi(\theta) + \text{noise} = B\theta + Z_{te} a + \text{noise}$ with
# $B = Z_{te} A$: a linear-Gaussian model in $\theta$. Write $r = y^{te} - Z_{te} a$ for the
# part of the query outputs that depends on $\theta$. Under
# $p(\theta \mid \mathcal{D}^{tr}) = \mathcal{N}(m_p, S_p)$ everything is exact:
#
# * the evidence: $r \sim \mathcal{N}(B m_p,\ B S_p B^\top + s^2 I)$;
# * the exact posterior: $p(\theta \mid \mathcal{D}^{tr}, \mathcal{D}^{te}) = \mathcal{N}(m_{post}, S_{post})$
#   with covariance $S_{post} = (S_p^{-1} + B^\top B / s^2)^{-1}$ and mean
#   $m_{post} = S_{post}(S_p^{-1} m_p + B^\top r / s^2)$;
# * the ELBO of any Gaussian $q = \mathcal{N}(m, S)$, using
#   $\mathbb{E}_q\|r - B\theta\|^2 = \|r - Bm\|^2 + \mathrm{tr}(B S B^\top)$:
#   $$\mathrm{ELBO}(q) = -\tfrac{n}{2}\log(2\pi s^2) - \frac{\|r - Bm\|^2 + \mathrm{tr}(B S B^\top)}{2 s^2}
#     - \mathrm{KL}\big(q \,\|\, \mathcal{N}(m_p, S_p)\big).$$
#
# We build the prior exactly as PLATIPUS does, from a `Platipus([1, 1], ...)` model in
# float64 whose parameters we set by hand, but compute every gradient with the closed form
# above (no library code). Then we check: the bound holds for random full-covariance $q$, its
# gap equals $\mathrm{KL}(q \,\|\, \mathcal{N}(m_{post}, S_{post}))$, and it is tight at the posterior.

# %%
ALPHA_TOY, NOISE_TOY = 0.1, 0.5
toy_rng = np.random.default_rng(1)


def line_data(n, low, high):
    """n points of y = 0.8 x + 0.3 + noise, x ~ U[low, high], as float64 [n, 1] tensors."""
    x = toy_rng.uniform(low, high, size=(n, 1))
    y = 0.8 * x + 0.3 + NOISE_TOY * toy_rng.standard_normal((n, 1))
    return torch.as_tensor(x), torch.as_tensor(y)


toy_support, toy_query = line_data(K, -1, 1), line_data(6, -3, 3)
toy = Platipus([1, 1], inner_lr=ALPHA_TOY, kl_weight=1.0, noise_std=NOISE_TOY, seed=0).double()
TOY_VALUES = {  # tensor (nn.ParameterDict key: "0.weight" -> "0_weight") -> (mu, sigma, sqrt(v_q), gamma_p, gamma_q)
    "0_weight": (0.4, 0.6, 0.4, 0.3, 0.5),
    "0_bias": (-0.2, 0.5, 0.3, 0.2, 0.4),
}
with torch.no_grad():
    for key, (mu_, sigma_, sd_q_, gamma_p_, gamma_q_) in TOY_VALUES.items():
        toy.mu[key].fill_(mu_)
        toy.log_sigma[key].fill_(math.log(sigma_))
        toy.log_v_q[key].fill_(2 * math.log(sd_q_))
        toy.gamma_p[key].fill_(gamma_p_)
        toy.gamma_q[key].fill_(gamma_q_)


def features(x):
    return torch.cat([x, torch.ones_like(x)], dim=1)  # [n, 2]: columns for w and b


def mse_gradient(theta, data):
    """grad_theta (1/n) ||Z theta - y||^2 = (2/n) Z^T (Z theta - y)."""
    z, y = features(data[0]), data[1][:, 0]
    return 2 / len(y) * z.T @ (z @ theta - y)


def column(table):
    """(weight, bias) of one of the model's tables as a vector in the order of theta = (w, b)."""
    return torch.stack([table[key].reshape(()) for key in TOY_VALUES])


def toy_distributions():
    """(m_q, S_q) of PLATIPUS' q and (m_p, S_p) of p(theta | D_tr), from the toy's parameters."""
    mu = column(toy.mu)
    m_q = mu - column(toy.gamma_q) * mse_gradient(mu, toy_query)
    m_p = mu - column(toy.gamma_p) * mse_gradient(mu, toy_support)
    return m_q, torch.diag(column(toy.log_v_q).exp()), m_p, torch.diag(column(toy.log_sigma).exp() ** 2)


Z_tr, Z_te = features(toy_support[0]), features(toy_query[0])
A = torch.eye(2, dtype=torch.float64) - 2 * ALPHA_TOY / K * Z_tr.T @ Z_tr
a = 2 * ALPHA_TOY / K * Z_tr.T @ toy_support[1][:, 0]
B, r = Z_te @ A, toy_query[1][:, 0] - Z_te @ a
n_query = len(r)


def toy_elbo(m, S, m_p, S_p):
    """ELBO(q) for q = N(m, S) and p(theta | D_tr) = N(m_p, S_p), in closed form."""
    expected_log_lik = (-0.5 * n_query * math.log(2 * math.pi * NOISE_TOY**2)
                        - ((r - B @ m).square().sum() + torch.trace(B @ S @ B.T)) / (2 * NOISE_TOY**2))
    return expected_log_lik - kl_divergence(MultivariateNormal(m, S), MultivariateNormal(m_p, S_p))


with torch.no_grad():
    _, _, m_p, S_p = toy_distributions()
log_evidence = MultivariateNormal(B @ m_p, B @ S_p @ B.T + NOISE_TOY**2 * torch.eye(n_query)).log_prob(r)
S_post = torch.linalg.inv(torch.linalg.inv(S_p) + B.T @ B / NOISE_TOY**2)
m_post = S_post @ (torch.linalg.solve(S_p, m_p) + B.T @ r / NOISE_TOY**2)

print(f"log evidence log p(y_te | x_te, D_tr) = {log_evidence:.6f}")
print(f"ELBO at the exact posterior          = {toy_elbo(m_post, S_post, m_p, S_p):.6f}")
assert torch.allclose(toy_elbo(m_post, S_post, m_p, S_p), log_evidence, atol=1e-10, rtol=0), "tight at the posterior"
for trial in range(5):
    m = m_post + 0.5 * torch.randn(2, dtype=torch.float64, generator=check)
    root = 0.3 * torch.randn(2, 2, dtype=torch.float64, generator=check)
    S = root @ root.T + 0.01 * torch.eye(2, dtype=torch.float64)
    elbo = toy_elbo(m, S, m_p, S_p)
    kl_to_posterior = kl_divergence(MultivariateNormal(m, S), MultivariateNormal(m_post, S_post))
    print(f"random q {trial}: ELBO {elbo:9.4f}   gap {log_evidence - elbo:8.4f}   "
          f"KL(q || posterior) {kl_to_posterior:8.4f}")
    assert elbo < log_evidence and torch.allclose(log_evidence - elbo, kl_to_posterior, atol=1e-9, rtol=0)

# %% [markdown]
# **Step 5 (the library computes this bound, and its gradient).** `Platipus.elbo_loss(tasks)`
# returns the *negative* ELBO averaged over tasks, with one reparameterized sample
# $\theta = m_q + \sqrt{v_q} \odot \varepsilon$ per task. For our toy model its $q$ is the
# diagonal Gaussian $\mathcal{N}(\mu_\theta - \gamma_q \nabla \mathcal{L}(\mu_\theta,
# \mathcal{D}^{te}), v_q)$, whose ELBO we have in closed form, as a differentiable function of
# all ten numbers in $\Theta$. Passing the same task many times averages many independent
# samples, so the library's value **and its gradient with respect to every parameter** must
# match the closed form within a few standard errors (step 3 says the reparameterized gradient
# is unbiased; this checks that the library differentiates through the two mean steps, the
# sample and MAML's step correctly). Like every ELBO, it also lies below the log evidence.
# (The gap is large here because we set $\Theta$ by hand, so $q$ is far from the posterior.
# Training $\Theta$ raises the ELBO but does not close the gap in general: $q$ is diagonal,
# with its mean fixed to one gradient step from $\mu_\theta$, while the exact posterior has a
# full covariance. That is the price of amortizing inference into one gradient step.)

# %%
parameters = list(toy.parameters())
closed_form_elbo = toy_elbo(*toy_distributions())
closed_form_gradient = torch.cat([g.reshape(-1) for g in torch.autograd.grad(-closed_form_elbo, parameters)])
torch.manual_seed(0)
values, gradients = [], []
for _ in range(20):  # 20 batches of 2000 samples each
    loss = toy.elbo_loss([(toy_support, toy_query)] * 2000)
    values.append(loss.detach())
    gradients.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, parameters)]))
values, gradients = torch.stack(values), torch.stack(gradients)
library_estimate, library_error = -values.mean(), values.std() / math.sqrt(len(values))
deviation = (gradients.mean(0) - closed_form_gradient).abs()
gradient_error = gradients.std(0) / math.sqrt(len(gradients))  # 0 for the KL-only parameters gamma_p, sigma
print(f"closed-form ELBO of the library's q:    {closed_form_elbo:.4f}")
print(f"library, -elbo_loss over 40000 samples: {library_estimate:.4f} +- {library_error:.4f}")
print(f"log evidence:                           {log_evidence:.4f}")
sampled = gradient_error > 0
largest_z = (deviation / gradient_error)[sampled].max()
print(f"gradient, {int(sampled.sum())} sample-dependent entries: largest |z| {largest_z:.2f}; "
      f"{int((~sampled).sum())} exact entries: largest deviation {deviation[~sampled].max():.1e}")
assert abs(library_estimate - closed_form_elbo) < 4 * library_error
assert (deviation <= 4 * gradient_error + 1e-9).all(), (deviation, gradient_error)
assert closed_form_elbo < log_evidence

# %% [markdown]
# ## Pseudocode (Finn, Xu & Levine 2018, Algorithm 1)
#
# ```
# input: task distribution p(T); inner step size alpha; outer step size beta (Adam)
# initialize Theta = {mu_theta, sigma_theta^2, v_q, gamma_p, gamma_q}
# repeat
#     sample a batch of tasks T_1 .. T_n ~ p(T)
#     for each task T_i with support set D_tr and query set D_te:
#         m_q   <- mu_theta - gamma_q * grad_mu L(mu_theta, D_te)      # q's mean: TEST gradient
#         theta <- m_q + sqrt(v_q) * eps,  eps ~ N(0, I)               # sample from q (reparameterized)
#         phi_i <- theta - alpha * grad_theta L(theta, D_tr)           # MAML's inner step
#         m_p   <- mu_theta - gamma_p * grad_mu L(mu_theta, D_tr)      # prior's mean: TRAIN gradient
#         loss_i <- -sum_j log N(y_te_j | f_phi_i(x_te_j), s^2)        # over the query points
#                   + kl_weight * KL( N(m_q, v_q) || N(m_p, sigma_theta^2) )
#     Theta <- Adam step on grad_Theta (1/n) sum_i loss_i              # differentiates through every step
#
# test time (Algorithm 2): given only D_tr,
#     theta ~ N(mu_theta - gamma_p * grad_mu L(mu_theta, D_tr), sigma_theta^2)
#     phi   <- theta - alpha * grad_theta L(theta, D_tr);  predict f_phi(x)
#     repeat for as many samples as you want
# ```
#
# Three gradient evaluations per task: the query loss at $\mu_\theta$ (for $q$), the support
# loss at $\mu_\theta$ (for the prior) and the support loss at $\theta$ (MAML's step). The
# outer gradient flows through all three, so it contains second derivatives, as in MAML.
# `kl_weight` multiplies the KL term and so weighs the prior more or less heavily against the
# data. With 1 the objective is the ELBO; since the KL is never negative, `kl_weight` $> 1$
# still gives a lower bound on the evidence, only a looser one, while `kl_weight` $< 1$ is no
# longer a bound.
#
# ## Library call
#
# `Platipus(sizes, inner_lr=alpha, kl_weight=..., noise_std=s, seed=...)` is an
# `nn.Module` whose learnable tensors are $\Theta$: `mu`, `log_sigma`, `log_v_q` (one entry
# per network tensor, same shape) and the step sizes `gamma_p`, `gamma_q` (one scalar per
# network tensor, initialized to $\alpha$). `log_sigma` stores $\log \sigma_\theta$, the log of
# a standard deviation, and `log_v_q` stores $\log v_q$, the log of a variance; logarithms let
# Adam move them freely while $\sigma_\theta$ and $v_q$ stay positive.

# %%
# NBVAL_CHECK_OUTPUT
model = Platipus([1, 40, 40, 1], inner_lr=0.01, kl_weight=1.0, noise_std=NOISE, seed=0)
for name, table in [("mu", model.mu), ("log_sigma", model.log_sigma), ("log_v_q", model.log_v_q),
                    ("gamma_p", model.gamma_p), ("gamma_q", model.gamma_q)]:
    print(f"{name:9s}", {key: tuple(value.shape) for key, value in table.items()})
print("learnable numbers in Theta:", sum(p.numel() for p in model.parameters()))

# %% [markdown]
# Training calls `elbo_loss` on a list of `(support, query)` tasks and steps an optimizer;
# prediction calls `sample_adapted(support, n_samples)`, which returns `n_samples` adapted
# parameter dictionaries $\phi$ (each from its own $\theta \sim p(\theta \mid \mathcal{D}^{tr})$),
# to be evaluated with `metarl_lite.nn.mlp`.

# %%
demo_rng = metarl_lite.seed_everything(0)
demo_tasks = [(t.sample(K, demo_rng), t.sample_query(10, demo_rng)) for t in family.sample_tasks(4, demo_rng)]
loss = model.elbo_loss(demo_tasks)
loss.backward()
print(f"negative ELBO per task at initialization: {loss.item():.1f}")
assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())

support = demo_tasks[0][0]
phis = model.sample_adapted(support, n_samples=3)
print("3 adapted functions at x = 0:", [round(mlp(phi, torch.zeros(1, 1)).item(), 3) for phi in phis])

# %% [markdown]
# ## Experiment: samples agree inside the window and disagree outside
#
# We meta-train PLATIPUS and, for comparison, MAML (chapter 02) on `Ambiguous` with the same
# network (1-40-40-1, ReLU), the same stream of tasks ($K = 5$ support points from the window,
# 20 query points from $[-5, 5]$, 25 tasks per batch), the same inner step $\alpha = 0.05$
# (one step) and the same Adam step size $\beta = 0.01$. The budget is small on purpose (1200
# iterations each, under a minute of CPU time for both), far below the tens of thousands of
# iterations of the paper, so expect rough functions; the point is *where* the samples spread.
#
# **The measurement.** For held-out tasks we draw 20 adapted functions from PLATIPUS and take,
# at each $x$ of a grid, their standard deviation across samples. Averaged over $x$ inside the
# window ($|x| \le 2$) and far outside it ($|x| \ge 3.5$), and over tasks, this gives
# $\mathrm{sd}_{in}$ and $\mathrm{sd}_{out}$, and the **spread ratio**
# $\mathrm{sd}_{out} / \mathrm{sd}_{in}$. One caveat makes a control necessary: even an
# *untrained* PLATIPUS has a spread ratio above 1, because a ReLU network grows linearly in
# $|x|$, so the same random perturbation of its weights moves $f(x)$ more the farther $x$ is
# from the origin. So we measure the untrained model too, and claim only what training adds.

# %%
INNER_LR, OUTER_LR = 0.05, 1e-2  # alpha, and beta for Adam
ITERATIONS, TASKS_PER_BATCH, QUERY = 1200, 25, 20
FAR = 3.5  # |x| >= FAR counts as far outside the window


def meta_batches(seed):
    """The same stream of (support, query) tasks for every method."""
    rng = np.random.default_rng(seed)
    for _ in range(ITERATIONS):
        tasks = family.sample_tasks(TASKS_PER_BATCH, rng)
        yield [(t.sample(K, rng), t.sample_query(QUERY, rng)) for t in tasks]


def meta_train(objective, parameters, desc):
    """Adam on objective(tasks) over the task stream; returns the loss per iteration."""
    optimizer = torch.optim.Adam(parameters, lr=OUTER_LR)
    losses = []
    for tasks in tqdm(meta_batches(seed=1), total=ITERATIONS, desc=desc):
        loss = objective(tasks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


held_out_rng = np.random.default_rng(2)
held_out = [(t, t.sample(K, held_out_rng)) for t in family.sample_tasks(50, held_out_rng)]
x_eval = torch.as_tensor(x_grid, dtype=torch.float32)[:, None]
far = np.abs(x_grid) >= FAR


def spread(model, n_samples=20):
    """(sd_in, sd_out, sampled functions [tasks, samples, grid]) over the held-out tasks."""
    with torch.no_grad():
        functions = np.stack([
            np.stack([mlp(phi, x_eval)[:, 0].numpy() for phi in model.sample_adapted(support, n_samples)])
            for _, support in held_out
        ])
    sd = functions.std(axis=1)  # [tasks, grid]
    return sd[:, in_window].mean(), sd[:, far].mean(), functions


start = time.process_time()
metarl_lite.seed_everything(0)
platipus = Platipus([1, 40, 40, 1], inner_lr=INNER_LR, kl_weight=1.0, noise_std=NOISE, seed=0)
untrained_in, untrained_out, _ = spread(platipus)
platipus_losses = meta_train(platipus.elbo_loss, platipus.parameters(), "PLATIPUS")

maml_params = init_mlp([1, 40, 40, 1], seed=0)
maml_losses = meta_train(lambda tasks: maml_objective(mse_loss, maml_params, tasks, lr=INNER_LR),
                         maml_params.values(), "MAML")
print(f"meta-training both methods took {time.process_time() - start:.0f} s of CPU time")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
window = 25  # iterations per moving average
for ax, losses, label in [(axes[0], platipus_losses, "PLATIPUS: negative ELBO per task"),
                          (axes[1], maml_losses, "MAML: query MSE after one step")]:
    ax.plot(np.convolve(losses, np.ones(window) / window, mode="valid"))
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel(label.split(": ")[1])
    ax.set_title(label)
plt.tight_layout()
plt.show()

drop = {}  # relative decrease from the first 100 iterations to the last 100
for name, losses in [("PLATIPUS negative ELBO", platipus_losses), ("MAML query MSE", maml_losses)]:
    first, last = np.mean(losses[:100]), np.mean(losses[-100:])
    drop[name] = 1 - last / first
    print(f"{name}: mean over the first 100 iterations {first:.2f}, over the last 100 {last:.2f} "
          f"({drop[name]:.0%} lower)")
    assert last < first, f"{name} should decrease with training"
assert 0.1 < drop["MAML query MSE"] < 0.3, "MAML's query MSE should fall by about a fifth"

# %% [markdown]
# Both curves fall. MAML's query MSE falls only by about a fifth at this budget: most query
# points (60% of $[-5, 5]$) lie outside the window, where five support points constrain the
# task weakly, and a single function pays in squared error for whatever ambiguity is left.
#
# Now the 50 held-out tasks. For each we draw 20 functions from the trained PLATIPUS and adapt
# MAML's single initialization, both with one step of size $\alpha$ on the same $K = 5$
# support points. Besides the spreads we score both methods as *probabilistic* predictors,
# which is what PLATIPUS is for. Its predictive distribution is the Monte-Carlo mixture
# $p(y \mid x, \mathcal{D}^{tr}) \approx \frac1S \sum_{m=1}^{S} \mathcal{N}(y; f_{\phi_m}(x), s^2)$
# over the $S = 20$ samples; MAML's is the same formula with its one function ($S = 1$). We
# report the mean absolute error of the mean prediction and the log predictive density at the
# true function, inside the window and far outside it (higher density is better).

# %%
metarl_lite.seed_everything(3)
trained_in, trained_out, functions = spread(platipus)
maml_functions = np.stack([
    mlp(adapt(mse_loss, maml_params, support, lr=INNER_LR), x_eval)[:, 0].detach().numpy() for _, support in held_out
])
truth = np.stack([task(x_grid) for task, _ in held_out])


def log_predictive(samples, y):
    """log (1/S) sum_m N(y; f_m(x), s^2) at every grid point: samples [tasks, S, grid], y [tasks, grid]."""
    log_densities = Normal(torch.as_tensor(samples), NOISE).log_prob(torch.as_tensor(y)[:, None])
    return (torch.logsumexp(log_densities, dim=1) - math.log(samples.shape[1])).numpy()


ratio_untrained, ratio_trained = untrained_out / untrained_in, trained_out / trained_in
for name, sd_in, sd_out in [("untrained", untrained_in, untrained_out), ("trained", trained_in, trained_out)]:
    print(f"{name + ' PLATIPUS:':20s}sd inside {sd_in:.3f}, sd far outside {sd_out:.3f}, spread ratio {sd_out / sd_in:.1f}")
print("                      mean |error| inside, far    log predictive density inside, far")
far_error = {}  # mean |error| of the mean prediction far from the window
for name, samples in [("PLATIPUS (20 samples)", functions), ("MAML (one function)", maml_functions[:, None])]:
    error, log_density = np.abs(samples.mean(axis=1) - truth), log_predictive(samples, truth)
    far_error[name] = error[:, far].mean()
    print(f"{name:22s}{error[:, in_window].mean():10.2f}{error[:, far].mean():7.2f}"
          f"{log_density[:, in_window].mean():23.2f}{log_density[:, far].mean():8.2f}")
platipus_far_density = log_predictive(functions, truth)[:, far].mean()
maml_far_density = log_predictive(maml_functions[:, None], truth)[:, far].mean()

# %%
shown = [i for kind in ("line", "sine") for i in [j for j, (t, _) in enumerate(held_out) if t.kind == kind][:2]]
fig, axes = plt.subplots(1, len(shown), figsize=(15, 3.6), sharey=True)
for ax, i in zip(axes, shown):
    task, (x_tr, y_tr) = held_out[i]
    ax.axvspan(*WINDOW, color="0.92")
    for j, sample in enumerate(functions[i, :10]):
        ax.plot(x_grid, sample, color="tab:blue", alpha=0.45, linewidth=1,
                label="PLATIPUS samples" if j == 0 else None)
    ax.plot(x_grid, maml_functions[i], color="tab:red", linestyle="--", linewidth=2, label="MAML")
    ax.plot(x_grid, truth[i], color="black", linewidth=2, label="true function")
    ax.scatter(x_tr[:, 0], y_tr[:, 0], color="black", zorder=3, label="support points")
    ax.set_ylim(-8, 8)
    ax.set_xlabel("input x")
    ax.set_title(f"held-out task {i}: a {task.kind}")
axes[0].set_ylabel("output y")
axes[0].legend(fontsize="small", loc="lower left")
fig.suptitle("Adapted functions after one step on K = 5 points (grey: support window)")
plt.tight_layout()
plt.show()

# %% [markdown]
# The claim, as assertions:
#
# 0. the caveat: the untrained model's spread ratio is already above 1 (here even above 2);
# 1. after training the ratio exceeds 2 (the untrained model already does; claims 2 and 3
#    test what training adds);
# 2. training sharpened that contrast: the ratio is at least 1.5 times the untrained model's
#    (which comes from the network's geometry alone);
# 3. the far-away disagreement is learned: $\mathrm{sd}_{out}$ is at least 4 times the
#    untrained model's;
# 4. far from the window, PLATIPUS' predictive distribution gives the truth a higher log
#    density than MAML's single function does.

# %%
assert ratio_untrained > 2, f"untrained spread ratio {ratio_untrained:.2f}"
assert ratio_trained > 2, f"spread ratio {ratio_trained:.2f}: samples do not agree inside more than outside"
assert ratio_trained > 1.5 * ratio_untrained, (ratio_trained, ratio_untrained)
assert trained_out > 4 * untrained_out, (trained_out, untrained_out)
assert platipus_far_density > maml_far_density, (platipus_far_density, maml_far_density)
print(f"spread ratio {ratio_trained:.1f} (untrained {ratio_untrained:.1f}); "
      f"far spread grew {trained_out / untrained_out:.0f}-fold with training; far log density "
      f"PLATIPUS {platipus_far_density:.1f} vs MAML {maml_far_density:.1f}")

# %% [markdown]
# MAML's adapted function (red) is one function per task: far from the window its mean
# absolute error is within 25% of that of the mean of PLATIPUS' samples, but nothing in its
# output says so, and a predictor that is confidently wrong gets a very low log density
# (claim 4). PLATIPUS' samples (blue) are pinned together by the five points and fan out
# beyond them, so their spread is a warning sign exactly where the predictions are
# unreliable. At this budget the fan is rough: inside the window the samples still disagree
# by more than the noise level ($\mathrm{sd}_{in} > s$), they are not yet clean lines and
# sinusoids, and far from the window their spread is smaller than their error (the paper
# trains for tens of thousands of iterations). The cell below checks these three
# statements. But the *shape* of the uncertainty, narrow where there is data and wide where
# there is none, is already learned.

# %%
platipus_far_error, maml_far_error = far_error["PLATIPUS (20 samples)"], far_error["MAML (one function)"]
assert abs(math.log(maml_far_error / platipus_far_error)) < math.log(1.25), (maml_far_error, platipus_far_error)
assert trained_in > NOISE, "inside the window the samples should still disagree by more than the noise"
assert trained_out < platipus_far_error, "far from the window the spread should still be below the error"
print(f"far |error|: MAML {maml_far_error:.2f}, mean of PLATIPUS' samples {platipus_far_error:.2f}; "
      f"sd inside {trained_in:.2f} > noise {NOISE}; sd far {trained_out:.2f} < far |error| {platipus_far_error:.2f}")

# %% [markdown]
# ## Try it: sliders
#
# `metarl_lite.widgets.platipus_widget` redraws sampled functions of the trained model for
# tasks drawn with the given seed: change the number of support points $K$ (more points, less
# ambiguity), the number of samples, and the task. Its drawing is the pure function
# `metarl_lite.widgets.platipus_samples`, which you can call yourself.

# %%
# NBVAL_IGNORE_OUTPUT
from metarl_lite.widgets import platipus_widget

platipus_widget(platipus, family, seed=0)

# %% [markdown]
# ## Names: probabilistic MAML is PLATIPUS, and ProMP is something else
#
# Three names are easily mixed up, in the literature and in secondary sources:
#
# * **PLATIPUS** is the algorithm of *Probabilistic Model-Agnostic Meta-Learning* (Finn, Xu &
#   Levine, NeurIPS 2018): a Gaussian over initializations, learned by the ELBO of this
#   chapter. When this course says "probabilistic MAML" it means PLATIPUS; its CLI name is
#   `--algo pmaml`.
# * **BMAML**, *Bayesian Model-Agnostic Meta-Learning* (Kim, Yoon, Dia, Kim, Bengio & Ahn,
#   NeurIPS 2018), is another Bayesian variant: instead of one Gaussian it keeps a set of
#   particles $\theta^{(1)}, \dots, \theta^{(M)}$, adapts all of them with Stein variational
#   gradient descent, and meta-trains with a "chaser" loss that pulls the posterior from the
#   support set towards the posterior from support and query sets. Particles can represent a
#   multi-modal posterior over $\theta$, which one Gaussian over $\theta$ cannot. (A Gaussian
#   over $\theta$ can still give multi-modal *predictions*, a line mode and a sinusoid mode,
#   because $f_\phi$ is non-linear in $\theta$.)
# * **ProMP** in meta-RL is *ProMP: Proximal Meta-Policy Search* (Rothfuss, Lee, Clavera,
#   Asfour & Abbeel, ICLR 2019). "Pro" is **proximal**, not probabilistic: ProMP is a
#   deterministic MAML-RL with a low-variance estimator of the meta-policy-gradient's
#   curvature term and a PPO-style clipped, KL-penalized outer objective. There is no
#   distribution over $\theta$ in it. Proximal Meta-Policy Search comes in the meta-RL part of
#   the course (chapter 10, planned). (To add to the confusion, "ProMP" is also a robotics
#   term, *probabilistic movement primitives*, Paraschos et al. 2013, unrelated to both.)
#
# If you read "probabilistic MAML (ProMP)" somewhere, one of the two words is wrong.

# %% [markdown]
# ## What to remember
#
# * With a few ambiguous points, the right answer is a **distribution over functions**. MAML's
#   $\phi = \theta - \alpha \nabla \mathcal{L}(\theta, \mathcal{D}^{tr})$ is deterministic, so
#   PLATIPUS makes the initialization $\theta$ random and keeps MAML's step.
# * The graphical model is $\theta \to \phi_i \to y$, with $\phi_i$ computed by a gradient step
#   and the intractable posterior over $\theta$ replaced by a learned Gaussian
#   $p(\theta \mid \mathcal{D}^{tr})$; the objective is the ELBO
#   $\mathbb{E}_q[\log p(y^{te} \mid x^{te}, \phi(\theta))] - \mathrm{KL}(q(\theta \mid
#   \mathcal{D}^{te}) \,\|\, p(\theta \mid \mathcal{D}^{tr}))$, a lower bound
#   on $\log p(y^{te} \mid x^{te}, \mathcal{D}^{tr})$ whose gap is
#   $\mathrm{KL}(q \,\|\, p(\theta \mid \mathcal{D}^{tr}, \mathcal{D}^{te}))$, with
#   $p(\theta \mid \mathcal{D}^{tr}, \mathcal{D}^{te}) \propto p(y^{te} \mid x^{te}, \phi(\theta))\,
#   p(\theta \mid \mathcal{D}^{tr})$ the exact posterior of the model.
# * Both distributions are Gaussians whose means take one gradient step from $\mu_\theta$:
#   $q$ on the **query** loss (step $\gamma_q$, variance $v_q$), the prior on the **support**
#   loss (step $\gamma_p$, variance $\sigma_\theta^2$). At test time only the prior is available.
# * The Gaussian likelihood with noise $s$ turns into the MSE, the KL of diagonal Gaussians is
#   a closed-form sum, and the reparameterization $\theta = m + \sqrt{v}\,\varepsilon$ makes
#   the sampled objective differentiable with unbiased gradients.
# * Measured here (one seed, under a minute of training): the trained samples spread several
#   times more far from the window than inside it, the far spread is learned (many times the
#   untrained model's), and it makes PLATIPUS' predictive density far from the data much higher
#   than that of MAML's single, confidently wrong function. A spread ratio alone is not
#   evidence: an untrained ReLU network already has one above 1 (here even above 2).
# * PLATIPUS is probabilistic MAML; BMAML is a particle-based Bayesian MAML; **ProMP is
#   Proximal Meta-Policy Search**, not probabilistic.
#
# ## Exercises
#
# 1. **The KL weight.** Retrain with `kl_weight=0.1` and with `kl_weight=10`. Before running,
#    predict which one spreads more far from the window, then measure $\mathrm{sd}_{in}$,
#    $\mathrm{sd}_{out}$ and the ratio.
# 2. **Less ambiguity.** Evaluate the trained model with $K = 10$ support points, and train
#    one on `Ambiguous(support_range=(-4.0, 4.0))`. How do $\mathrm{sd}_{out}$ and the MAML
#    error change? (The slider of the widget gives a first impression.)
# 3. **Mean-field gap.** In step 4, restrict $q$ to diagonal covariances. Show that the best
#    diagonal $S$ for a given mean has $S_{jj} = 1 / (S_{post}^{-1})_{jj}$, compute the remaining
#    gap, and check it against $\mathrm{KL}(q \,\|\, \text{posterior})$.
# 4. **Why reparameterize?** In step 3, estimate $\nabla_m \mathbb{E}_q[h]$ with the score
#    function instead: $\mathbb{E}_q[h(\theta)\, \nabla_m \log q(\theta)]$. Is it unbiased? Compare
#    the standard errors of the two estimators for the same number of samples.
# 5. **Test-time steps.** `sample_adapted(support, n, steps=5)` takes five inner steps instead
#    of one. Measure $\mathrm{sd}_{in}$, $\mathrm{sd}_{out}$ and the in-window error with 1 and 5
#    steps. Which of the two numbers does the extra adaptation change most, and why?
# 6. **The gap identity.** Prove $\log p(y^{te} \mid x^{te}, \mathcal{D}^{tr}) - \mathrm{ELBO}(q) =
#    \mathrm{KL}(q(\theta) \,\|\, p(\theta \mid \mathcal{D}^{tr}, \mathcal{D}^{te}))$ from Bayes'
#    rule, $p(\theta \mid \mathcal{D}^{tr}, \mathcal{D}^{te}) = p(y^{te} \mid x^{te}, \phi(\theta))\,
#    p(\theta \mid \mathcal{D}^{tr}) / p(y^{te} \mid x^{te}, \mathcal{D}^{tr})$.
#
# ## References
#
# * C. Finn, K. Xu, S. Levine. *Probabilistic Model-Agnostic Meta-Learning.* NeurIPS 2018.
#   [arXiv:1806.02817](https://arxiv.org/abs/1806.02817). PLATIPUS: Sec. 4, Algorithms 1 and 2;
#   the graphical model: Figure 1; the ambiguous regression experiment (lines or sinusoids),
#   which `Ambiguous` follows (its support window $[-2, 2]$ is this course's choice).
# * C. Finn, P. Abbeel, S. Levine. *Model-Agnostic Meta-Learning for Fast Adaptation of Deep
#   Networks.* ICML 2017. [arXiv:1703.03400](https://arxiv.org/abs/1703.03400).
# * E. Grant, C. Finn, S. Levine, T. Darrell, T. Griffiths. *Recasting Gradient-Based
#   Meta-Learning as Hierarchical Bayes.* ICLR 2018.
#   [arXiv:1801.08930](https://arxiv.org/abs/1801.08930).
# * T. Kim, J. Yoon, O. Dia, S. Kim, Y. Bengio, S. Ahn. *Bayesian Model-Agnostic
#   Meta-Learning.* NeurIPS 2018. [arXiv:1806.03836](https://arxiv.org/abs/1806.03836).
# * J. Rothfuss, D. Lee, I. Clavera, T. Asfour, P. Abbeel. *ProMP: Proximal Meta-Policy
#   Search.* ICLR 2019. [arXiv:1810.06784](https://arxiv.org/abs/1810.06784).
# * A. Paraschos, C. Daniel, J. Peters, G. Neumann. *Probabilistic Movement Primitives.*
#   NIPS 2013. (The other "ProMP", from robotics.)
# * D. P. Kingma, M. Welling. *Auto-Encoding Variational Bayes.* ICLR 2014.
#   [arXiv:1312.6114](https://arxiv.org/abs/1312.6114) (the reparameterization trick).
# * D. M. Blei, A. Kucukelbir, J. D. McAuliffe. *Variational Inference: A Review for
#   Statisticians.* JASA 2017. [arXiv:1601.00670](https://arxiv.org/abs/1601.00670).
# * C. M. Bishop. *Pattern Recognition and Machine Learning*, Sec. 3.3–3.5 (Bayesian linear
#   regression and its evidence), Springer 2006.
