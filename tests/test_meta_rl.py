"""metarl_lite.rl.meta_rl: the VPG inner step, the MAML-RL meta-gradient and TRPO step, Reptile-RL,
probabilistic MAML-RL and the evaluation protocol, on 2D navigation."""

import numpy as np
import pytest
import torch

from metarl_lite import seed_everything
from metarl_lite.rl import meta_rl, policies
from metarl_lite.rl.sampler import Episodes
from metarl_lite.tasks import navigation as nav

HORIZON = nav.HORIZON


def random_episodes(n_tasks=2, per_task=4, horizon=12, seed=0):
    """A fixed float64 batch with random observations, actions and rewards and episodes that end early."""
    rng = seed_everything(seed)
    episodes = n_tasks * per_task
    lengths = torch.as_tensor([horizon, 3, *rng.integers(2, horizon + 1, size=episodes - 2)])
    masks = (torch.arange(horizon) < lengths[:, None]).double()
    data = [torch.as_tensor(rng.standard_normal(shape)) for shape in
            ((episodes, horizon, 2), (episodes, horizon, 2), (episodes, horizon))]
    obs, actions, rewards = (x * (masks if x.dim() == 2 else masks[..., None]) for x in data)
    return Episodes(obs, actions, rewards, masks, torch.zeros_like(masks), torch.arange(episodes) // per_task)


def hand_advantages(episodes, n_tasks, gamma):
    """Per task: returns-to-go by a loop, the linear baseline by an explicit ridge solve on
    [o, o^2, t/100, (t/100)^2, (t/100)^3, 1], A = G - b, normalized over the task's real steps."""
    out = []
    for obs, rewards, masks in zip(*(meta_rl.per_task(x, n_tasks).numpy() for x in
                                     (episodes.obs, episodes.rewards, episodes.masks))):
        returns = np.zeros_like(rewards)
        for e in range(len(rewards)):
            for t in range(int(masks[e].sum())):
                returns[e, t] = sum(gamma ** (u - t) * rewards[e, u] for u in range(t, int(masks[e].sum())))
        t = np.broadcast_to(np.arange(rewards.shape[1]) / 100.0, rewards.shape)[..., None]
        o = np.clip(obs, -10, 10)
        x = np.concatenate([o, o**2, t, t**2, t**3, np.ones_like(t)], axis=-1)
        real = masks > 0
        w = np.linalg.solve(x[real].T @ x[real] + 1e-5 * np.eye(x.shape[-1]), x[real].T @ returns[real])
        a = (returns - x @ w)[real]
        normalized = np.zeros_like(returns)
        normalized[real] = (a - a.mean()) / (a.std() + 1e-8)
        out.append(normalized)
    return torch.as_tensor(np.concatenate(out))


def test_first_order_loglik_inner_step_is_a_hand_computed_vpg_step():
    # Linear Gaussian policy mu(s) = W s + b: with z = (a - mu) / sigma, grad_W log pi = (z / sigma) s^T,
    # grad_b log pi = z / sigma, grad_{log sigma} log pi = z^2 - 1; phi_i = theta + alpha * mean_t grad log pi_t A^_t.
    episodes, n, alpha = random_episodes(), 2, 0.1
    theta = policies.init_policy(2, 2, hidden=(), seed=3, dtype=torch.float64)
    with torch.no_grad():
        theta["log_std"].copy_(torch.tensor([-0.3, 0.2]))
    adv = meta_rl.advantages(episodes, n, gamma=0.99, lam=1.0)
    torch.testing.assert_close(adv, hand_advantages(episodes, n, 0.99))
    phi = meta_rl.inner_step(policies.stack([theta] * n), (episodes, adv), lr=alpha, first_order=True)
    w, b, log_std = (theta[k].detach() for k in ("0.weight", "0.bias", "log_std"))
    sigma = torch.exp(log_std)
    for i in range(n):
        obs, actions, masks, a = (meta_rl.per_task(x, n)[i]
                                  for x in (episodes.obs, episodes.actions, episodes.masks, adv))
        real = masks > 0
        s, act, a = obs[real], actions[real], a[real]  # [steps, 2], [steps, 2], [steps]
        z = (act - s @ w.T - b) / sigma
        step = {"0.weight": ((z / sigma * a[:, None])[:, :, None] * s[:, None, :]).mean(0),
                "0.bias": (z / sigma * a[:, None]).mean(0),
                "log_std": ((z**2 - 1) * a[:, None]).mean(0)}
        for k in theta:
            torch.testing.assert_close(phi[k][i], theta[k].detach() + alpha * step[k])


def fixed_path(seed=0, hidden=(4,), n_tasks=2, per_task=3, horizon=15):
    """theta of a tiny float64 tanh policy and one inner step's episodes on navigation, sampled once."""
    theta = policies.init_policy(2, 2, hidden=hidden, seed=seed, log_std=-1.0, dtype=torch.float64)
    env = nav.make_vec_env(nav.sample_tasks(n_tasks, np.random.default_rng(seed)), per_task)
    return theta, meta_rl.sample_path(env, policies.stack([theta] * n_tasks), inner_lr=0.5, horizon=horizon, seed=1)


def unflatten(vector, like):
    sizes = [v.numel() for v in like.values()]
    return {k: c.reshape(v.shape) for (k, v), c in zip(like.items(), torch.split(vector, sizes))}


def flat_grad(theta, path, **options):
    """d/d theta of J(theta) = post-update surrogate at phi(theta), by autograd, flat."""
    point = {k: v.detach().requires_grad_() for k, v in theta.items()}
    objective = meta_rl.meta_surrogate(point, path, inner_lr=0.5, **options)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(objective, list(point.values()))])


def finite_differences(theta, path, eps=1e-6):
    """(J(theta + eps e_j) - J(theta - eps e_j)) / (2 eps) for every coordinate j."""
    flat = torch.cat([v.detach().reshape(-1) for v in theta.values()])

    def value(vector):
        return meta_rl.meta_surrogate(unflatten(vector, theta), path, inner_lr=0.5).item()

    return torch.tensor([(value(flat + eps * e) - value(flat - eps * e)) / (2 * eps)
                         for e in torch.eye(len(flat), dtype=flat.dtype)], dtype=flat.dtype)


def test_second_order_meta_gradient_equals_finite_differences_on_a_fixed_batch():
    # With the episodes held fixed, phi(theta) = theta + alpha grad J^(theta) is an ordinary function and
    # the loglik estimator differentiates exactly it; first order (d phi / d theta = I) does not.
    theta, path = fixed_path()
    numeric = finite_differences(theta, path)
    second = flat_grad(theta, path, estimator="loglik")
    first = flat_grad(theta, path, estimator="loglik", first_order=True)
    torch.testing.assert_close(second, numeric, rtol=1e-6, atol=1e-8)
    assert (first - numeric).norm() > 0.05 * numeric.norm()
    # lvc and dice add curvature terms for the samples' dependence on theta, which a fixed batch cannot show
    for estimator in ("lvc", "dice"):
        assert (flat_grad(theta, path, estimator=estimator) - numeric).norm() > 1e-3 * numeric.norm()


def test_replayed_steps_reproduce_the_sampled_path_and_each_step_resamples():
    theta = policies.init_policy(2, 2, hidden=(8,), seed=0, dtype=torch.float64)
    env = nav.make_vec_env(nav.sample_tasks(3, np.random.default_rng(0)), 2)
    path = meta_rl.sample_path(env, policies.stack([theta] * 3), inner_lr=0.1, inner_steps=2, horizon=20, seed=4)
    assert len(path.params) == len(path.episodes) == len(path.advantages) == 3
    for estimator in ("loglik", "lvc", "dice"):
        replayed = meta_rl.adapted(policies.stack([theta] * 3), path, inner_lr=0.1, estimator=estimator)
        for k in theta:
            torch.testing.assert_close(replayed[k], path.params[-1][k])
    # episode j is sampled by phi_j: its stored log-probabilities are phi_j's
    for phi, episodes in zip(path.params, path.episodes):
        log_probs = policies.log_prob(phi, meta_rl.per_task(episodes.obs, 3), meta_rl.per_task(episodes.actions, 3))
        torch.testing.assert_close(log_probs.reshape(6, 20) * episodes.masks, episodes.log_probs)
    assert not torch.equal(path.episodes[0].actions, path.episodes[1].actions)
    # tasks adapt independently: the path of the first 2 tasks replays to the first 2 rows
    replayed = meta_rl.adapted(policies.stack([theta] * 2), path.first_tasks(2), inner_lr=0.1)
    for k in theta:
        torch.testing.assert_close(replayed[k], path.params[-1][k][:2])
    torch.testing.assert_close(path.returns(), torch.stack([meta_rl.task_returns(e, 3) for e in path.episodes]))
    # a later step size (the evaluation protocol's alpha / 2) applies from the second step on
    halved = meta_rl.sample_path(env, policies.stack([theta] * 3), inner_lr=0.1, inner_steps=2, horizon=20, seed=4,
                                 later_lr=0.05)
    for k in theta:
        torch.testing.assert_close(halved.params[1][k], path.params[1][k])
        step = meta_rl.inner_step(halved.params[1], (halved.episodes[1], halved.advantages[1]), lr=0.05)
        torch.testing.assert_close(halved.params[2][k], step[k].detach())
        assert not torch.equal(halved.params[2][k], path.params[2][k])
    # without sampling phi_k the path ends at the same phi_k, one batch shorter
    unsampled = meta_rl.sample_path(env, policies.stack([theta] * 3), inner_lr=0.1, inner_steps=2, horizon=20, seed=4,
                                    sample_adapted=False)
    assert len(unsampled.params) == 3 and len(unsampled.episodes) == len(unsampled.advantages) == 2
    for k in theta:
        torch.testing.assert_close(unsampled.params[-1][k], path.params[-1][k])
    torch.testing.assert_close(unsampled.returns(), path.returns()[:2])


def test_reptile_rl_step_moves_theta_toward_the_mean_adapted_parameters_sampling_k_batches():
    theta = policies.init_policy(2, 2, hidden=(8,), seed=0, dtype=torch.float64)
    env = nav.make_vec_env(nav.sample_tasks(3, np.random.default_rng(0)), 2)
    batches = []
    sample = meta_rl.sample_episodes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(meta_rl, "sample_episodes", lambda *a, **kw: batches.append(sample(*a, **kw)) or batches[-1])
        new, metrics = meta_rl.reptile_rl_step(theta, env, horizon=20, seed=4, inner_lr=0.1, inner_steps=2,
                                               outer_lr=0.5)
    assert len(batches) == 2  # D_0 and D_1; W = phi_2 is never sampled
    path = meta_rl.sample_path(env, policies.stack([theta] * 3), inner_lr=0.1, inner_steps=2, horizon=20, seed=4)
    for k in theta:
        torch.testing.assert_close(new[k], theta[k] + 0.5 * (path.params[-1][k].mean(0) - theta[k]))
    assert metrics["pre_return"] == pytest.approx(path.returns()[0].mean().item())
    assert metrics["post_return"] == pytest.approx(path.returns()[1].mean().item())  # after k - 1 = 1 step


def test_trpo_outer_step_respects_the_kl_bound_between_old_and_new_post_update_policies():
    theta = policies.init_policy(2, 2, hidden=(16, 16), seed=0)
    env = nav.make_vec_env(nav.sample_tasks(4, np.random.default_rng(2)), 5)
    steps = {}
    for max_kl, fisher_tasks in ((0.01, None), (1e-4, None), (0.01, 2)):
        new, metrics = meta_rl.maml_rl_step(theta, env, horizon=HORIZON, seed=3, max_kl=max_kl,
                                            fisher_tasks=fisher_tasks)
        steps[max_kl, fisher_tasks] = new
        # rebuild the same (deterministic) path and measure the step independently
        path = meta_rl.sample_path(env, policies.stack([theta] * 4), horizon=HORIZON, seed=3)
        post = path.episodes[-1]
        phi_new = meta_rl.adapted(policies.stack([new] * 4), path)
        phi_old = meta_rl.adapted(policies.stack([theta] * 4), path)
        kl = policies.kl(path.params[-1], phi_new, *(meta_rl.per_task(x, 4) for x in (post.obs, post.masks))).item()
        before = meta_rl.post_update_surrogate(phi_old, post, path.advantages[-1]).item()
        after = meta_rl.post_update_surrogate(phi_new, post, path.advantages[-1]).item()
        assert metrics["accepted"] and 0 < kl <= max_kl and after > before
        reported = (metrics["kl"], metrics["surrogate_before"], metrics["surrogate_after"])
        assert reported == pytest.approx((kl, before, after))
        assert not torch.equal(new["0.weight"], theta["0.weight"])
    # Fisher-vector products on the first 2 tasks only: another direction, the same bound
    assert not torch.equal(steps[0.01, 2]["0.weight"], steps[0.01, None]["0.weight"])
    returns = path.returns().mean(1)
    assert (metrics["pre_return"], metrics["post_return"]) == pytest.approx(tuple(returns.tolist()))
    assert all(metrics[f"{part}_seconds"] > 0 for part in ("sample", "adapt", "outer"))


def train(step, iterations, seed=0):
    """Run ``step(env, iteration)`` on fresh meta-batches of 10 navigation tasks x 10 episodes."""
    rng = seed_everything(seed)
    for iteration in range(iterations):
        step(nav.make_vec_env(nav.sample_tasks(10, rng), 10), iteration)


def held_out(init, adapt_steps=1):
    """Mean return over 10 held-out tasks after 0..adapt_steps steps, [adapt_steps + 1]."""
    tasks = nav.sample_tasks(10, np.random.default_rng(12_345))
    returns = meta_rl.evaluate(init, tasks, make_env=nav.make_vec_env, adapt_steps=adapt_steps, episodes_per_task=10,
                               horizon=HORIZON, seed=1)
    return returns.mean((0, 1))


def test_maml_rl_learns_to_adapt_on_2d_navigation():
    theta = policies.init_policy(2, 2, hidden=(32, 32), seed=0)
    post_0 = held_out(theta)[1].item()

    def step(env, iteration):
        nonlocal theta
        theta, _ = meta_rl.maml_rl_step(theta, env, horizon=HORIZON, seed=iteration, fisher_tasks=3)

    train(step, iterations=20)
    pre, post = held_out(theta).tolist()
    assert post > pre + 10  # one VPG step from the learned theta gains a lot (seeds 0, 1, 2: 20, 16.5, 16.6)
    assert post > post_0 + 30  # and the adapted policies are much better than before training


def test_reptile_rl_improves_on_its_initial_return():
    theta = policies.init_policy(2, 2, hidden=(32, 32), seed=0)
    pre_0, post_0 = held_out(theta).tolist()

    def step(env, iteration):
        nonlocal theta
        theta, _ = meta_rl.reptile_rl_step(theta, env, horizon=HORIZON, seed=iteration, inner_steps=3, outer_lr=1.0)

    train(step, iterations=12)
    pre, post = held_out(theta).tolist()
    assert pre > pre_0 + 20 and post > post_0 + 20 and post > pre


@pytest.mark.parametrize("max_kl, surrogate_test", [(None, False), (0.02, False), (0.02, True)])
def test_probabilistic_maml_rl_improves_and_keeps_a_spread_of_initializations(max_kl, surrogate_test):
    dist = meta_rl.PolicyDistribution(policies.init_policy(2, 2, hidden=(32, 32), seed=0), prior_std=0.1)
    optimizer = torch.optim.Adam(dist.parameters(), lr=1e-2)
    pre_0, post_0 = held_out(dist).tolist()
    metrics = []
    train(lambda env, i: metrics.append(meta_rl.pmaml_rl_step(dist, optimizer, env, horizon=HORIZON, seed=i,
                                                               kl_weight=1e-3, max_kl=max_kl,
                                                               surrogate_test=surrogate_test)), iterations=12)
    pre, post = held_out(dist).tolist()
    assert pre > pre_0 + 20 and post > post_0 + 20 and post > pre
    assert 0.05 < metrics[-1]["sigma"] < 0.2 and metrics[-1]["kl_to_prior"] > 0
    if max_kl is None:
        assert "step_kl" not in metrics[-1]
    else:  # the bound was active and held
        assert all(0 < m["step_kl"] <= max_kl for m in metrics) and any(m["backtracks"] > 0 for m in metrics)
    if surrogate_test:  # and every kept step raised the objective on its own batch
        assert all(m["objective_after"] > m["objective"] for m in metrics)


def test_trust_region_keeps_the_first_halving_of_the_step_within_the_kl_bound_and_undoes_a_bad_step():
    theta, path = fixed_path()
    episodes = path.episodes[0]
    dist = meta_rl.PolicyDistribution(theta, prior_std=0.1)
    before = [p.detach().clone() for p in dist.parameters()]
    generator = torch.Generator().manual_seed(0)
    step = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in before]

    def take(fraction):
        with torch.no_grad():
            for p, old, s in zip(dist.parameters(), before, step):
                p.copy_(old + fraction * s)
        return policies.kl(dict(zip(dist.mu, before)), dist.mu, episodes.obs, episodes.masks).item()

    kls = [take(0.5**j) for j in range(15)]
    max_kl = (kls[2] * kls[3]) ** 0.5
    first = next(j for j, kl in enumerate(kls) if kl <= max_kl)
    assert first == 3  # a full step far outside the bound
    take(1.0)
    assert meta_rl.trust_region(dist, before, episodes, max_kl=max_kl) == {"step_kl": kls[3], "backtracks": 3}
    for p, old, s in zip(dist.parameters(), before, step):
        torch.testing.assert_close(p.detach(), old + s / 8)
    for halvings, expected in ((5, {"step_kl": kls[5], "backtracks": 5}), (15, {"step_kl": 0.0, "backtracks": 15})):
        take(1.0)  # a surrogate test that the step passes from its 5th halving on, then one that it never passes
        def improves(halvings=halvings):
            return (dist.parameters()[0] - before[0]).norm() <= step[0].norm() * 0.5**halvings * 1.0001
        assert meta_rl.trust_region(dist, before, episodes, max_kl=max_kl, improves=improves) == expected
    assert all(torch.equal(p.detach(), old) for p, old in zip(dist.parameters(), before))
    take(1.0)
    with torch.no_grad():
        dist.mu["log_std"][0] = float("nan")
    assert meta_rl.trust_region(dist, before, episodes, max_kl=max_kl) == {"step_kl": 0.0, "backtracks": 15}
    assert all(torch.equal(p.detach(), old) for p, old in zip(dist.parameters(), before))


def test_surrogate_test_shrinks_an_adam_step_that_lowers_the_objective_until_it_raises_it():
    def step(surrogate_test):  # Adam's first step moves every entry by about lr = 2: far too far
        dist = meta_rl.PolicyDistribution(policies.init_policy(2, 2, hidden=(8,), seed=0), prior_std=0.1)
        optimizer = torch.optim.Adam(dist.parameters(), lr=2.0)
        env = nav.make_vec_env(nav.sample_tasks(4, np.random.default_rng(0)), 5)
        return meta_rl.pmaml_rl_step(dist, optimizer, env, horizon=HORIZON, seed=0, max_kl=1e6,
                                     surrogate_test=surrogate_test)

    kl_only, tested = step(False), step(True)
    assert kl_only["backtracks"] == 0 and kl_only["objective_after"] < kl_only["objective"]  # the loose bound kept it
    assert tested["objective"] == kl_only["objective"]  # the same batch
    assert 0 < tested["backtracks"] < 15 and tested["objective_after"] > tested["objective"]
    assert tested["step_kl"] < kl_only["step_kl"]


def test_promp_gradient_at_the_sampling_policy_is_the_lvc_meta_gradient():
    # Every ratio is 1 at theta_old, so clipping is inactive and the inner KL penalty has zero gradient;
    # the importance-weighted inner loss has the LVC Hessian there (Rothfuss et al. 2019).
    theta, path = fixed_path()
    assert bool((path.episodes[-1].masks == 1).all())  # equal steps per task: per-task means = the global mean
    point = {k: v.detach().requires_grad_() for k, v in theta.items()}
    clipped, inner_kl = meta_rl.promp_objective(point, path, inner_lr=0.5, clip=0.2)
    promp = torch.autograd.grad(clipped, list(point.values()))
    assert inner_kl.item() == pytest.approx(0.0, abs=1e-12)
    kl_grad = torch.autograd.grad(meta_rl.promp_objective(point, path, inner_lr=0.5)[1], list(point.values()))
    assert max(g.abs().max().item() for g in kl_grad) < 1e-10
    lvc = flat_grad(theta, path, estimator="lvc")
    torch.testing.assert_close(torch.cat([g.reshape(-1) for g in promp]), lvc, rtol=1e-5, atol=1e-7)
    assert (flat_grad(theta, path, estimator="loglik") - lvc).norm() > 1e-3 * lvc.norm()


def test_promp_improves_on_its_initial_return():
    theta = policies.init_policy(2, 2, hidden=(32, 32), seed=0)
    optimizer = torch.optim.Adam(theta.values(), lr=1e-3)
    pre_0, post_0 = held_out(theta).tolist()
    train(lambda env, i: meta_rl.promp_rl_step(theta, optimizer, env, horizon=HORIZON, seed=i), iterations=15)
    pre, post = held_out(theta).tolist()
    assert pre > pre_0 + 20 and post > post_0 + 20 and post > pre


def test_kl_to_the_prior_has_its_closed_form_and_no_gradient_in_mu():
    theta = policies.init_policy(2, 2, hidden=(3,), seed=0, dtype=torch.float64)
    dist = meta_rl.PolicyDistribution(theta, prior_std=0.2, init_std=0.2)
    assert dist.kl_to_prior().item() == 0.0
    with torch.no_grad():
        for v in dist.log_sigma.values():
            v.uniform_(-3, 0)
    sigma = torch.cat([torch.exp(v).reshape(-1) for v in dist.log_sigma.values()]).detach()
    closed_form = (torch.log(0.2 / sigma) + sigma**2 / (2 * 0.2**2) - 0.5).sum()
    kl = dist.kl_to_prior()
    torch.testing.assert_close(kl, closed_form)
    grads = torch.autograd.grad(kl, list(dist.mu.values()), allow_unused=True, materialize_grads=True)
    assert all(not g.any() for g in grads)
    # theta_i = mu + sigma * eps_i with eps from the generator, one draw per task
    draws = dist.sample(3, torch.Generator().manual_seed(5))
    eps = torch.Generator().manual_seed(5)
    for k, mu in dist.mu.items():
        expected = mu + torch.exp(dist.log_sigma[k]) * torch.randn((3, *mu.shape), generator=eps, dtype=mu.dtype)
        torch.testing.assert_close(draws[k], expected)


def test_evaluate_returns_per_task_curves_for_a_policy_and_per_sample_curves_for_a_distribution():
    theta = policies.init_policy(2, 2, hidden=(8,), seed=0)
    tasks = nav.sample_tasks(3, np.random.default_rng(0))
    kwargs = dict(make_env=nav.make_vec_env, adapt_steps=2, episodes_per_task=4, horizon=30, seed=9)
    with torch.no_grad():  # the inner steps take gradients anyway
        returns = meta_rl.evaluate(theta, tasks, **kwargs)
    assert returns.shape == (3, 1, 3)
    path = meta_rl.sample_path(nav.make_vec_env(tasks, 4), policies.stack([theta] * 3), inner_steps=2, horizon=30,
                               seed=9)
    torch.testing.assert_close(returns[:, 0], path.returns().T)
    spread = meta_rl.evaluate(meta_rl.PolicyDistribution(theta, prior_std=0.5), tasks, samples=2, **kwargs)
    assert spread.shape == (3, 2, 3) and (spread.std(1) > 0).all()


def test_bad_arguments_get_one_line_errors(one_line_errors):
    theta = policies.init_policy(2, 2, hidden=(4,), seed=0)
    env = nav.make_vec_env(nav.sample_tasks(2, np.random.default_rng(0)), 2)
    tasks = env.tasks
    cases = [
        (lambda: meta_rl.maml_rl_step(theta, object(), horizon=5, seed=0), "env must list its tasks"),
        (lambda: meta_rl.maml_rl_step(theta, env, horizon=5, seed=0, inner_lr=-1), "inner_lr must be"),
        (lambda: meta_rl.maml_rl_step(theta, env, horizon=5, seed=0, estimator="magic"),
         "unknown estimator 'magic'"),
        (lambda: meta_rl.reptile_rl_step(theta, env, horizon=5, seed=0, inner_steps=0),
         "Reptile needs inner_steps >= 1"),
        (lambda: meta_rl.promp_rl_step(theta, None, env, horizon=5, seed=0, outer_steps=0),
         "ProMP needs outer_steps >= 1"),
        (lambda: meta_rl.PolicyDistribution(theta, prior_std=0.0), "prior_std and init_std must be > 0"),
        (lambda: meta_rl.evaluate([theta], tasks, make_env=nav.make_vec_env, adapt_steps=1, episodes_per_task=1,
                                  horizon=5, seed=0), "init must be a policy dict or a PolicyDistribution"),
        (lambda: meta_rl.evaluate(theta, tasks, make_env=nav.make_vec_env, adapt_steps=1, episodes_per_task=1,
                                  horizon=5, seed=0, samples=0), "samples must be a positive integer"),
    ]
    one_line_errors(cases)


def test_zero_inner_steps_is_trpo_on_the_pre_update_policy():
    theta = policies.init_policy(2, 2, hidden=(4,), seed=0)
    env = nav.make_vec_env(nav.sample_tasks(2, np.random.default_rng(0)), 3)
    new, metrics = meta_rl.maml_rl_step(theta, env, horizon=20, seed=0, inner_steps=0)
    assert metrics["pre_return"] == metrics["post_return"] and metrics["accepted"] and 0 < metrics["kl"] <= 0.01
