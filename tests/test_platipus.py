"""metarl_lite.meta.Platipus: probabilistic MAML (Finn, Xu, Levine 2018) for regression.

Notation: mu, sigma the prior over theta; p(theta | D_tr) = N(mu - gamma_p grad L(mu, D_tr), sigma^2);
q(theta | D_te) = N(mu - gamma_q grad L(mu, D_te), v_q); phi = theta - alpha grad L(theta, D_tr);
L the mean squared error, alpha the inner step size (``inner_lr``).
"""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

import metarl_lite
from metarl_lite.meta import Platipus
from metarl_lite.meta.platipus import gaussian_kl
from metarl_lite.nn import init_mlp, mlp
from metarl_lite.tasks import Ambiguous, Sinusoid

SIZES = [1, 40, 40, 1]
TABLES = ("mu", "log_sigma", "log_v_q", "gamma_p", "gamma_q")


def learned(net, table):
    """One of the model's learned tables as a dict keyed like the MLP ('0.weight', ...).

    nn.ParameterDict keys cannot contain dots: the table stores '0.weight' under '0_weight'.
    """
    return {name: getattr(net, table)[name.replace(".", "_")] for name in init_mlp(net.sizes, seed=0)}


def sinusoid_tasks(n, rng, k=5, k_query=10, dtype=torch.float32, vary_k=False):
    """n (support, query) pairs from the sinusoid family; with vary_k the support sizes differ."""
    return [
        (task.sample(k + i * vary_k, rng, dtype), task.sample(k_query, rng, dtype))
        for i, task in enumerate(Sinusoid().sample_tasks(n, rng))
    ]


def ambiguous_tasks(family, n, rng, k=5, k_query=10):
    """n (support, query) pairs: support from the narrow window, query from the whole range."""
    return [(task.sample(k, rng), task.sample_query(k_query, rng)) for task in family.sample_tasks(n, rng)]


def model(**overrides):
    """A PLATIPUS on the sinusoid-sized MLP; keyword overrides for the hyperparameters."""
    kwargs = dict(inner_lr=0.01, kl_weight=1.0, noise_std=0.3, seed=0) | overrides
    return Platipus(SIZES, **kwargs)


# ---- the objective -----------------------------------------------------------------------------


def test_negative_elbo_is_a_finite_scalar():
    value = model().elbo_loss(sinusoid_tasks(4, np.random.default_rng(0)))
    assert value.dim() == 0 and torch.isfinite(value)


@pytest.mark.parametrize("path", ["vmap", "loop"])
def test_negative_elbo_matches_an_independent_formula_when_q_is_a_point_mass(path, mse, grad_at):
    """With v_q -> 0 the sample theta ~ q is its mean, so the negative ELBO is deterministic:

    mean_i [ -sum log N(y_te | f_phi(x_te), noise_std^2) + kl_weight KL(q_i || p_i) ],
    written here with torch.distributions; distinct gamma_p, gamma_q per tensor check that each is used.
    """
    net = model(kl_weight=0.7).double()
    with torch.no_grad():
        for i, (name, _) in enumerate(net.mu.items()):
            net.log_sigma[name].fill_(math.log(0.05 * (i + 1)))
            net.log_v_q[name].fill_(-60.0)
            net.gamma_p[name].fill_(0.01 * (i + 1))
            net.gamma_q[name].fill_(0.02 * (i + 1))
    tasks = sinusoid_tasks(3, np.random.default_rng(0), dtype=torch.float64, vary_k=path == "loop")

    mu, sigma = learned(net, "mu"), {k: v.exp() for k, v in learned(net, "log_sigma").items()}
    v_q = {k: v.exp() for k, v in learned(net, "log_v_q").items()}
    gamma_p, gamma_q = learned(net, "gamma_p"), learned(net, "gamma_q")
    expected = 0.0
    for support, query in tasks:
        g_tr, g_te = grad_at(mse, mu, support), grad_at(mse, mu, query)
        mean_p = {k: mu[k] - gamma_p[k] * g_tr[k] for k in mu}
        mean_q = {k: mu[k] - gamma_q[k] * g_te[k] for k in mu}
        phi = {k: mean_q[k] - net.inner_lr * g for k, g in grad_at(mse, mean_q, support).items()}
        nll = -Normal(mlp(phi, query[0]), net.noise_std).log_prob(query[1]).sum()
        kl = sum(kl_divergence(Normal(mean_q[k], v_q[k].sqrt()), Normal(mean_p[k], sigma[k])).sum() for k in mu)
        expected = expected + (nll + net.kl_weight * kl) / len(tasks)

    torch.testing.assert_close(net.elbo_loss(tasks), expected, rtol=1e-10, atol=0)


def test_elbo_gradient_reaches_every_learned_parameter():
    net = model()
    net.elbo_loss(sinusoid_tasks(4, np.random.default_rng(0))).backward()
    for table in TABLES:
        for name, parameter in getattr(net, table).items():
            assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), f"{table}[{name}]"
            assert parameter.grad.abs().max() > 0, f"{table}[{name}] gets no gradient"


def test_gaussian_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    shapes = {"0.weight": (4, 2), "0.bias": (4,)}

    def draw(positive=False):
        values = {k: torch.randn(s, generator=gen, dtype=torch.float64) for k, s in shapes.items()}
        return {k: v.exp() for k, v in values.items()} if positive else values

    mean_q, var_q, mean_p, var_p = draw(), draw(positive=True), draw(), draw(positive=True)
    expected = sum(
        kl_divergence(Normal(mean_q[k], var_q[k].sqrt()), Normal(mean_p[k], var_p[k].sqrt())).sum() for k in shapes
    )
    torch.testing.assert_close(gaussian_kl(mean_q, var_q, mean_p, var_p), expected, rtol=1e-13, atol=0)


# ---- sampling ----------------------------------------------------------------------------------


def test_sample_adapted_returns_n_distinct_dicts_with_the_mlp_keys():
    net = model()
    support = sinusoid_tasks(1, np.random.default_rng(0))[0][0]
    samples = net.sample_adapted(support, 4)
    assert len(samples) == 4
    reference = init_mlp(SIZES, seed=0)
    for sample in samples:
        assert {k: v.shape for k, v in sample.items()} == {k: v.shape for k, v in reference.items()}
        assert not any(v.requires_grad for v in sample.values())
    for a in range(4):
        for b in range(a + 1, 4):
            assert all(not torch.equal(samples[a][k], samples[b][k]) for k in reference)


@pytest.mark.parametrize("steps", [1, 2])
def test_sample_adapted_takes_inner_steps_from_prior_samples(steps, mse, grad_at):
    """Each returned dict is theta ~ p(theta | D_tr) after ``steps`` steps phi = theta - alpha grad L."""
    net = model()
    support = sinusoid_tasks(1, np.random.default_rng(0))[0][0]
    torch.manual_seed(5)
    priors = net.sample_prior(support, 3)
    torch.manual_seed(5)
    adapted = net.sample_adapted(support, 3, steps=steps)
    for theta, phi in zip(priors, adapted):
        for _ in range(steps):
            theta = {k: theta[k] - net.inner_lr * g for k, g in grad_at(mse, theta, support).items()}
        torch.testing.assert_close(phi, theta)


def test_prior_samples_have_mean_mu_minus_gamma_p_grad_and_std_sigma(mse, grad_at):
    """Empirical mean and std of 4000 draws against N(mu - gamma_p grad L(mu, D_tr), sigma^2)."""
    net = Platipus([1, 3, 1], inner_lr=0.01, kl_weight=1.0, noise_std=0.3, seed=0).double()
    with torch.no_grad():
        for i, (name, _) in enumerate(net.log_sigma.items()):
            net.log_sigma[name].fill_(math.log(0.1 * (i + 1)))
            net.gamma_p[name].fill_(0.5)
    support = sinusoid_tasks(1, np.random.default_rng(0), dtype=torch.float64)[0][0]
    n = 4000
    samples = net.sample_prior(support, n)
    mu, sigma = learned(net, "mu"), {k: v.exp() for k, v in learned(net, "log_sigma").items()}
    g = grad_at(mse, mu, support)
    for k in mu:
        draws = torch.stack([s[k] for s in samples])
        mean = mu[k].detach() - 0.5 * g[k]
        z = (draws.mean(0) - mean) / (sigma[k].detach() / math.sqrt(n))
        assert z.abs().max() < 4.5, k
        torch.testing.assert_close(draws.std(0), sigma[k].detach(), rtol=0.05, atol=0)


def test_elbo_and_samples_are_deterministic_given_torch_manual_seed():
    tasks = sinusoid_tasks(3, np.random.default_rng(0))
    support = tasks[0][0]

    def run(seed):
        net = model()
        torch.manual_seed(seed)
        return net.elbo_loss(tasks).detach(), net.sample_adapted(support, 2)

    (elbo, samples), (elbo_again, samples_again), (elbo_other, samples_other) = run(1), run(1), run(2)
    torch.testing.assert_close(elbo, elbo_again, rtol=0, atol=0)
    torch.testing.assert_close(samples, samples_again, rtol=0, atol=0)
    assert elbo != elbo_other
    assert not torch.equal(samples[0]["0.weight"], samples_other[0]["0.weight"])


def test_mu_starts_at_init_mlp_of_the_seed():
    torch.testing.assert_close(learned(model(seed=3), "mu"), init_mlp(SIZES, seed=3), rtol=0, atol=0)


# ---- learning ------------------------------------------------------------------------------------

AMBIGUOUS_ITERATIONS = 500
ELBO_CHECK_AT = 300


@pytest.fixture(scope="module")
def ambiguous_run():
    """PLATIPUS trained on the Ambiguous family (Adam 1e-3, 4 tasks of 5 + 10 points per step).

    Returns the model, the family and {step: negative ELBO on 16 held-out tasks, with fixed eps}
    before training and after ELBO_CHECK_AT steps.
    """
    rng = metarl_lite.seed_everything(0)
    family = Ambiguous()
    net = Platipus(SIZES, inner_lr=0.01, kl_weight=1.0, noise_std=family.noise_std, seed=0)
    held_out = ambiguous_tasks(family, 16, np.random.default_rng(1))

    def held_out_elbo():
        with torch.random.fork_rng():
            torch.manual_seed(123)
            return net.elbo_loss(held_out).item()

    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    history = {0: held_out_elbo()}
    for step in range(1, AMBIGUOUS_ITERATIONS + 1):
        loss = net.elbo_loss(ambiguous_tasks(family, 4, rng))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == ELBO_CHECK_AT:
            history[step] = held_out_elbo()
    return net, family, history


def test_negative_elbo_decreases_under_adam(ambiguous_run):
    _, _, history = ambiguous_run
    before, after = history[0], history[ELBO_CHECK_AT]
    assert math.isfinite(after)
    assert after < 0.7 * before, f"held-out negative ELBO {before:.1f} -> {after:.1f} after {ELBO_CHECK_AT} Adam steps"


def posterior_spread(family, supports, grids, n_candidates=40000):
    """The exact posterior's spread, by importance sampling from the family itself.

    Candidates f ~ p(T) weighted by prod_j N(y_j | f(x_j), noise_std^2) over a support set; for each
    grid, the weighted std of f(x) at each x, averaged over x and over support sets.
    """
    candidates = family.sample_tasks(n_candidates, np.random.default_rng(99))
    pieces = [x.double().numpy()[:, 0] for x, _ in supports] + list(grids)
    values = np.stack([c(np.concatenate(pieces)) for c in candidates]).T  # [points, candidates]
    values = np.split(values, np.cumsum([len(p) for p in pieces])[:-1])
    spreads = np.zeros(len(grids))
    for (_, y), f_support in zip(supports, values):
        log_w = -0.5 * ((f_support - y.double().numpy()) ** 2).sum(0) / family.noise_std**2
        w = np.exp(log_w - log_w.max())
        w /= w.sum()
        for j, f in enumerate(values[len(supports) :]):
            spreads[j] += np.sqrt(((f - f @ w[:, None]) ** 2) @ w).mean() / len(supports)
    return spreads


def test_sampled_functions_disagree_outside_the_support_window_and_agree_inside(ambiguous_run):
    """Five points in [-2, 2] often fit a line and a sinusoid alike. Samples phi from sample_adapted
    should agree inside the window (spread of f_phi(x) below the observation noise) and disagree far
    outside, at |x| in [4, 5]: more than twice the inside spread, and at least half the spread of the
    exact posterior over the family's functions given the same points."""
    net, family, _ = ambiguous_run
    lo, hi = family.support_range
    inside = torch.linspace(lo, hi, 21)[:, None]
    outside = torch.cat([torch.linspace(-5, -4, 6), torch.linspace(4, 5, 6)])[:, None]
    rng = np.random.default_rng(7)
    supports = [task.sample(5, rng) for task in family.sample_tasks(20, np.random.default_rng(123))]
    spread_in, spread_out = [], []
    for support in supports:
        samples = net.sample_adapted(support, 10)
        spread_in.append(torch.stack([mlp(p, inside) for p in samples]).std(0).mean().item())
        spread_out.append(torch.stack([mlp(p, outside) for p in samples]).std(0).mean().item())
    spread_in, spread_out = np.mean(spread_in), np.mean(spread_out)
    grids = [inside.double().numpy()[:, 0], outside.double().numpy()[:, 0]]
    exact_in, exact_out = posterior_spread(family, supports, grids)
    numbers = (
        f"samples' spread inside {spread_in:.3f}, outside {spread_out:.3f}; exact posterior's inside "
        f"{exact_in:.3f}, outside {exact_out:.3f}; noise_std {family.noise_std}"
    )
    assert spread_in < family.noise_std, numbers
    assert spread_out > 2 * spread_in, numbers
    assert spread_out > 0.5 * exact_out, numbers


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"inner_lr": -0.1}, "^inner_lr must be a finite number >= 0, got -0.1$"),
        ({"kl_weight": float("nan")}, "^kl_weight must be a finite number >= 0, got nan$"),
        ({"noise_std": 0.0}, r"^noise_std must be > 0"),
        ({"noise_std": -1.0}, "^noise_std must be a finite number >= 0, got -1.0$"),
        ({"init_std": 0.0}, "init_std"),
    ],
)
def test_bad_hyperparameters_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        model(**overrides)


def test_empty_task_list_is_rejected():
    with pytest.raises(ValueError, match=r"^tasks is empty; pass at least one \(support, query\) pair$"):
        model().elbo_loss([])


@pytest.mark.parametrize("call", ["sample_prior", "sample_adapted"])
def test_negative_sample_count_is_rejected(call):
    support = sinusoid_tasks(1, np.random.default_rng(0))[0][0]
    with pytest.raises(ValueError, match="^n_samples must be an integer >= 0, got -1$"):
        getattr(model(), call)(support, -1)


def test_negative_steps_are_rejected():
    support = sinusoid_tasks(1, np.random.default_rng(0))[0][0]
    with pytest.raises(ValueError, match="^steps must be an integer >= 0, got -1$"):
        model().sample_adapted(support, 2, steps=-1)


@pytest.mark.parametrize(
    "reshape",
    [lambda x, y: (x, y[:, 0]), lambda x, y: (x, y[:-1]), lambda x, y: (x[:, 0], y)],
    ids=["y-without-feature-dim", "fewer-y-than-x", "x-without-feature-dim"],
)
@pytest.mark.parametrize("where", ["support", "query"])
def test_mismatched_x_and_y_shapes_are_rejected(where, reshape):
    """y of shape [k] against predictions [k, 1] would broadcast to [k, k] and silently give a wrong loss."""
    support, query = sinusoid_tasks(1, np.random.default_rng(0))[0]
    task = (reshape(*support), query) if where == "support" else (support, reshape(*query))
    with pytest.raises(ValueError, match="shape"):
        model().elbo_loss([task])
