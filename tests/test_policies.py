"""metarl_lite.rl.policies: the Gaussian tanh-MLP policy against torch.distributions and the Fisher matrix."""

import math

import pytest
import torch
from torch.autograd.functional import hessian, jacobian
from torch.distributions import Normal, kl_divergence
from torch.func import grad, vmap

from metarl_lite.nn import mlp
from metarl_lite.rl import policies


def tiny_policy(seed, obs_dim=3, act_dim=2, hidden=(5,), log_std=(-0.3, 0.4)):
    """A float64 policy with distinct per-dimension sigmas (so no test passes by symmetry)."""
    params = policies.init_policy(obs_dim, act_dim, hidden=hidden, seed=seed, dtype=torch.float64)
    params["log_std"] = torch.tensor(log_std, dtype=torch.float64, requires_grad=True)
    return params


def normal(params, obs):
    """pi(. | s) as a torch.distributions.Normal, from nn.mlp directly."""
    net = {k: v for k, v in params.items() if k != "log_std"}
    mean = mlp(net, obs, "tanh")
    return Normal(mean, params["log_std"].exp().expand_as(mean))


def flat(params):
    return torch.cat([v.detach().reshape(-1) for v in params.values()])


def unflat(vector, like):
    out, start = {}, 0
    for k, v in like.items():
        out[k] = vector[start : start + v.numel()].reshape(v.shape)
        start += v.numel()
    return out


def test_init_policy_builds_a_64_64_tanh_mlp_and_a_log_std():
    params = policies.init_policy(4, 3, seed=0)
    shapes = {k: tuple(v.shape) for k, v in params.items()}
    assert shapes == {"0.weight": (64, 4), "0.bias": (64,), "2.weight": (64, 64), "2.bias": (64,),
                      "4.weight": (3, 64), "4.bias": (3,), "log_std": (3,)}
    assert (params["log_std"] == 0).all() and all(v.requires_grad and v.dtype == torch.float32 for v in params.values())
    obs = torch.randn(7, 4)
    mean, log_std = policies.gaussian(params, obs)
    torch.testing.assert_close(mean, mlp({k: v for k, v in params.items() if k != "log_std"}, obs, "tanh"))
    assert log_std.shape == (7, 3)


def test_log_prob_and_entropy_match_torch_distributions():
    params = tiny_policy(0)
    obs = torch.randn(4, 6, 3, dtype=torch.float64)  # any leading shape
    dist = normal(params, obs)
    actions = dist.sample() + 0.5  # away from the mean, where the quadratic term matters
    torch.testing.assert_close(policies.log_prob(params, obs, actions), dist.log_prob(actions).sum(-1))
    torch.testing.assert_close(policies.entropy(params), dist.entropy()[0, 0].sum())


def test_kl_matches_torch_distributions_and_masks_select_real_steps():
    old, new = tiny_policy(1), tiny_policy(2, log_std=(0.1, -0.6))
    obs = torch.randn(3, 5, 3, dtype=torch.float64)
    per_state = kl_divergence(normal(old, obs), normal(new, obs)).sum(-1)  # [3, 5]
    torch.testing.assert_close(policies.kl(old, new, obs), per_state.mean())
    masks = (torch.arange(5) < torch.tensor([[5], [2], [1]])).double()
    expected = per_state[masks > 0].mean()
    assert not torch.isclose(expected, per_state.mean())
    torch.testing.assert_close(policies.kl(old, new, obs, masks), expected)
    # padded observations may hold anything
    dirty = obs.where(masks[..., None] > 0, torch.nan)
    torch.testing.assert_close(policies.kl(old, new, dirty, masks), expected)


def test_per_task_params_equal_a_loop_over_tasks():
    tasks = [tiny_policy(seed, log_std=(0.1 * seed, -0.2 * seed)) for seed in range(3)]
    batched = policies.stack(tasks)
    obs = torch.randn(3, 4, 6, 3, dtype=torch.float64)  # [tasks, episodes, T, obs_dim]
    actions = torch.randn(3, 4, 6, 2, dtype=torch.float64)
    masks = torch.ones(3, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(
        policies.log_prob(batched, obs, actions),
        torch.stack([policies.log_prob(p, o, a) for p, o, a in zip(tasks, obs, actions)]),
    )
    torch.testing.assert_close(policies.entropy(batched), torch.stack([policies.entropy(p) for p in tasks]))
    old = policies.stack(tasks[::-1])
    torch.testing.assert_close(
        policies.kl(old, batched, obs, masks),
        torch.stack([policies.kl(p_old, p, o) for p_old, p, o in zip(tasks[::-1], tasks, obs)]).mean(),
    )
    # gradients reach each task's own parameters
    policies.log_prob(batched, obs, actions)[1].sum().backward()
    assert tasks[1]["0.weight"].grad.abs().sum() > 0 and not tasks[0]["0.weight"].grad.any()


def test_sample_is_seeded_gaussian_with_matching_log_probs_per_task():
    tasks = [tiny_policy(0, log_std=(-1.0, 0.5)), tiny_policy(1, log_std=(0.3, -2.0))]
    batched = policies.stack(tasks)
    obs = torch.randn(2, 1, 3, dtype=torch.float64).expand(2, 20000, 3)
    actions, log_probs = policies.sample(batched, obs, torch.Generator().manual_seed(0))
    again, _ = policies.sample(batched, obs, torch.Generator().manual_seed(0))
    assert torch.equal(actions, again)
    torch.testing.assert_close(log_probs, policies.log_prob(batched, obs, actions))
    for i, p in enumerate(tasks):
        dist = normal(p, obs[i, :1])
        z = (actions[i] - dist.mean) / dist.stddev  # standard normal for the right task's policy
        torch.testing.assert_close(z.mean(0), torch.zeros(2, dtype=torch.float64), atol=0.03, rtol=0)
        torch.testing.assert_close(z.std(0), torch.ones(2, dtype=torch.float64), atol=0.03, rtol=0)
        assert abs((z[:, 0] * z[:, 1]).mean()) < 0.03


def exact_fisher(params, obs):
    """F = mean_s J(s)^T M J(s): J the Jacobian of (mu(s), log sigma) in the flat parameters and
    M = diag(1 / sigma^2, 2), the Fisher matrix of N(mu, sigma^2) in (mu, log sigma)."""
    theta = flat(params)
    sigma2 = params["log_std"].detach().exp() ** 2
    m = torch.diag(torch.cat([1 / sigma2, torch.full_like(sigma2, 2.0)]))

    def mean_and_log_std(th, s):
        p = unflat(th, params)
        return torch.cat([policies.gaussian(p, s)[0], p["log_std"]])

    total = 0
    for s in obs:
        j = jacobian(lambda th: mean_and_log_std(th, s), theta)
        total = total + j.T @ m @ j
    return total / len(obs)


def test_exact_fisher_is_the_expected_outer_product_of_scores():
    # Monte Carlo check of the closed form used below: F = E_s E_a[grad log pi grad log pi^T].
    params, obs = tiny_policy(3), torch.randn(4, 3, dtype=torch.float64)
    theta = flat(params)
    states = obs.repeat_interleave(20000, dim=0)
    actions = normal(params, states).sample()  # seeded by conftest

    def log_pi(th, s, a):
        return policies.log_prob(unflat(th, params), s, a)

    scores = vmap(grad(log_pi), in_dims=(None, 0, 0))(theta, states, actions)
    estimate = scores.T @ scores / len(scores)
    exact = exact_fisher(params, obs)
    # Monte Carlo error ~1% here; a wrong M (1 instead of 2, or 1 / sigma) is off by > 20%
    assert (estimate - exact).norm() < 0.04 * exact.norm()


def test_kl_at_p_is_zero_with_zero_gradient_and_fisher_hessian():
    params, obs = tiny_policy(4), torch.randn(6, 3, dtype=torch.float64)
    theta = flat(params)

    def divergence(th):
        return policies.kl(params, unflat(th, params), obs)

    value = divergence(theta)
    assert value.abs() < 1e-15
    torch.testing.assert_close(jacobian(divergence, theta), torch.zeros_like(theta), atol=1e-14, rtol=0)
    fisher = exact_fisher(params, obs)
    torch.testing.assert_close(hessian(divergence, theta), fisher, atol=1e-12, rtol=1e-10)
    assert torch.linalg.eigvalsh(fisher).max() > 0.1


def test_bad_input_gets_one_line_error(one_line_errors):
    params, batched = tiny_policy(0), policies.stack([tiny_policy(0), tiny_policy(1)])
    obs = torch.randn(5, 3, dtype=torch.float64)
    cases = [
        (lambda: policies.log_prob({k: v for k, v in params.items() if k != "log_std"}, obs, obs[:, :2]),
         "must be a dict with a 'log_std' tensor"),
        (lambda: policies.log_prob(params, obs, obs), r"actions must have shape \[5, 2\]"),
        (lambda: policies.log_prob(batched, obs, obs[:, :2]),
         r"per-task params for 2 tasks need observations \[2, \.\.\., obs_dim\]; got \[5, 3\]"),
        (lambda: policies.kl(params, params, obs, torch.ones(4)), r"masks must have the shape .* \[5\]; got \[4\]"),
        (lambda: policies.stack([params, {"log_std": params["log_std"]}]), "same keys"),
        (lambda: policies.gaussian({**params, "log_std": params["log_std"][:1]}, obs),
         "outputs 2 action dims but 'log_std' has 1"),
    ]
    one_line_errors(cases)
    assert math.isfinite(policies.entropy(params).item())


def test_unstack_inverts_stack_and_refuses_one_policy():
    thetas = [policies.init_policy(3, 2, hidden=(4,), seed=s) for s in range(3)]
    for got, want in zip(policies.unstack(policies.stack(thetas)), thetas, strict=True):
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    with pytest.raises(ValueError, match="unstack needs per-task parameters"):
        policies.unstack(thetas[0])
