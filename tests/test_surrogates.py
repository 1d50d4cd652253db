import pytest
import torch
from torch.autograd.functional import hessian, jacobian

from metarl_lite import seed_everything
from metarl_lite.rl.returns import discounted_returns
from metarl_lite.rl.surrogates import dice, loglik, lvc, ppo_clip, vpg_inner_loss
from metarl_lite.tasks.tabular import random_mdp

SURROGATES = {"loglik": loglik, "lvc": lvc, "dice": dice}


def box(x):
    """DiCE's magic box exp(x - stopgrad(x)), written out here independently of the library."""
    return torch.exp(x - x.detach())


class RandomBatch:
    """Episodes of a linear softmax policy pi(a | s) = softmax(features(s) theta), theta [d, A] flattened.

    Every derivative check below differentiates in theta, so the Hessians are dense and nontrivial.
    """

    def __init__(self, seed, episodes=5, horizon=6, n_features=3, n_actions=3):
        rng = seed_everything(seed)
        self.shape = (n_features, n_actions)
        self.theta = torch.as_tensor(rng.standard_normal(n_features * n_actions))
        self.features = torch.as_tensor(rng.standard_normal((episodes, horizon, n_features)))
        self.actions = torch.as_tensor(rng.integers(0, n_actions, size=(episodes, horizon)))
        self.rewards = torch.as_tensor(rng.standard_normal((episodes, horizon)))
        self.baseline = torch.as_tensor(rng.standard_normal((episodes, horizon)))
        lengths = torch.as_tensor([horizon, 1, *rng.integers(1, horizon + 1, size=episodes - 2)])
        self.masks = (torch.arange(horizon) < lengths[:, None]).double()

    def log_probs(self, theta):
        logits = self.features @ theta.reshape(self.shape)
        return torch.log_softmax(logits, dim=-1).gather(-1, self.actions[..., None])[..., 0]

    def returns_from_start(self, gamma):
        """R_t = sum_{t' >= t} gamma^t' r_t' over the real steps, by a plain loop."""
        out = torch.zeros_like(self.rewards)
        for n, (r, m) in enumerate(zip(self.rewards.tolist(), self.masks.tolist())):
            for t in range(len(r)):
                out[n, t] = m[t] * sum(gamma**k * r[k] * m[k] for k in range(t, len(r)))
        return out


def derivatives(fn, theta):
    return jacobian(fn, theta), hessian(fn, theta)


# Textbook forms, each written from its paper; the library's surrogates must have the same
# derivatives (first and second order).
def textbook_loglik(batch, theta, gamma, baseline):
    """sum_t log pi_t (R_t - gamma^t b_t): REINFORCE with causality and a baseline."""
    discount = gamma ** torch.arange(batch.rewards.shape[1])
    weights = batch.returns_from_start(gamma) - discount * baseline * batch.masks
    return (batch.log_probs(theta) * batch.masks * weights).sum(1).mean()


def textbook_lvc(batch, theta, gamma, baseline):
    """sum_t pi_t / stopgrad(pi_t) (R_t - gamma^t b_t), ProMP's LVC objective (Rothfuss et al. 2019)."""
    discount = gamma ** torch.arange(batch.rewards.shape[1])
    weights = batch.returns_from_start(gamma) - discount * baseline * batch.masks
    return (box(batch.log_probs(theta)) * batch.masks * weights).sum(1).mean()


def textbook_dice(batch, theta, gamma, baseline):
    """sum_t box(W_t) gamma^t r_t + sum_t gamma^t b_t (box(W_{t-1}) - box(W_t)), DiCE with Mao et al.'s baseline."""
    discount = gamma ** torch.arange(batch.rewards.shape[1]) * batch.masks
    w = (batch.log_probs(theta) * batch.masks).cumsum(1)
    w_before = torch.cat([torch.zeros_like(w[:, :1]), w[:, :-1]], dim=1)
    objective = box(w) * discount * batch.rewards + discount * baseline * (box(w_before) - box(w))
    return objective.sum(1).mean()


@pytest.mark.parametrize(
    "name, textbook", [("loglik", textbook_loglik), ("lvc", textbook_lvc), ("dice", textbook_dice)]
)
@pytest.mark.parametrize("with_baseline", [False, True])
def test_surrogate_matches_its_textbook_form_to_second_order(name, textbook, with_baseline):
    batch, gamma = RandomBatch(0), 0.9
    baseline = batch.baseline if with_baseline else torch.zeros_like(batch.rewards)

    def ours(theta):
        log_probs = batch.log_probs(theta)
        return SURROGATES[name](
            log_probs, batch.rewards, batch.masks, gamma=gamma, baseline=baseline if with_baseline else None
        )

    grad, hess = derivatives(ours, batch.theta)
    expected_grad, expected_hess = derivatives(lambda th: textbook(batch, th, gamma, baseline), batch.theta)
    torch.testing.assert_close(grad, expected_grad)
    torch.testing.assert_close(hess, expected_hess)
    assert hess.abs().max() > 0.1  # a real check, not 0 == 0


@pytest.mark.parametrize("name", SURROGATES)
def test_value_is_the_mean_discounted_return(name):
    batch, gamma = RandomBatch(1), 0.8
    mean_return = batch.returns_from_start(gamma)[:, 0].mean()
    for baseline in (None, batch.baseline):
        log_probs = batch.log_probs(batch.theta)
        value = SURROGATES[name](log_probs, batch.rewards, batch.masks, gamma=gamma, baseline=baseline)
        torch.testing.assert_close(value, mean_return)


@pytest.mark.parametrize("name", SURROGATES)
def test_padded_steps_are_ignored_even_nan(name):
    batch = RandomBatch(2)
    nan_padding = torch.where(batch.masks > 0, 0.0, torch.nan)

    def surrogate(theta, padding):
        log_probs, rewards, baseline = batch.log_probs(theta) + padding, batch.rewards + padding, batch.baseline + padding
        return SURROGATES[name](log_probs, rewards, batch.masks, gamma=0.9, baseline=baseline)

    clean = derivatives(lambda th: surrogate(th, 0.0), batch.theta)
    dirty = derivatives(lambda th: surrogate(th, nan_padding), batch.theta)
    for a, b in zip(clean, dirty):
        torch.testing.assert_close(b, a)


# Exact expectations on an enumerable MDP (S = A = H = 2): sum over all 16 trajectories of
# stopgrad(p(tau)) * estimator(tau), so no Monte Carlo error anywhere. Logits: stationary [S, A]
# (shared by both steps, so cross-step terms meet in the same parameters) or time-dependent [H, S, A].
MDP = random_mdp(2, 2, 2, seed=5)
THETAS = {
    "stationary": torch.as_tensor(seed_everything(1).standard_normal((2, 2))),
    "time-dependent": torch.as_tensor(seed_everything(1).standard_normal((2, 2, 2))),
}
STATIONARY = THETAS["stationary"]


def flat(grad, hess, theta):
    return grad.reshape(theta.numel()), hess.reshape(theta.numel(), theta.numel())


def expected_derivatives(name, gamma, theta=STATIONARY, baseline_table=None):
    """E[grad estimator] and E[hess estimator] at theta, flattened to [d] and [d, d]."""
    steps = torch.arange(MDP.horizon)

    def estimate(log_probs, tau):
        baseline = None if baseline_table is None else baseline_table[steps, tau.states]
        return SURROGATES[name](log_probs, tau.rewards, tau.masks, gamma=gamma, baseline=baseline)

    return flat(*derivatives(lambda th: MDP.expectation(th, estimate), theta), theta)


def exact_derivatives(gamma, theta=STATIONARY):
    return flat(*derivatives(lambda th: MDP.value(th, gamma=gamma), theta), theta)


def hessian_terms(gamma, theta=STATIONARY, baseline_table=None):
    """Rothfuss et al. (2019)'s H1, H2, H12 from the enumerated trajectories, with R_t = sum_{t' >= t} gamma^t' r_t'
    (minus gamma^t b(t, s_t) when a baseline table is given): H1 = E[sum_t grad l_t grad l_t^T R_t],
    H2 = E[sum_t hess l_t R_t], H12 = E[sum_t (sum_{t' < t} grad l_t') grad l_t^T R_t]."""
    tau = MDP.trajectories(theta)
    (n, horizon), d = tau.states.shape, theta.numel()

    def log_probs(th):
        return MDP.log_probs(th, tau.states, tau.actions)

    grads = jacobian(log_probs, theta).reshape(n, horizon, d)
    hessians = jacobian(lambda th: jacobian(log_probs, th, create_graph=True), theta).reshape(n, horizon, d, d)
    returns = torch.zeros(n, horizon, dtype=torch.float64)
    for i in range(n):
        for t in range(horizon):
            returns[i, t] = sum(gamma**k * tau.rewards[i, k] for k in range(t, horizon))
            if baseline_table is not None:
                returns[i, t] -= gamma**t * baseline_table[t, tau.states[i, t]]
    past = grads.cumsum(1) - grads
    h1 = torch.einsum("n,nt,nti,ntj->ij", tau.probs, returns, grads, grads)
    h2 = torch.einsum("n,nt,ntij->ij", tau.probs, returns, hessians)
    h12 = torch.einsum("n,nt,nti,ntj->ij", tau.probs, returns, past, grads)
    return h1, h2, h12


@pytest.mark.parametrize("kind", THETAS)
def test_rothfuss_decomposition_of_the_exact_hessian(kind):
    h1, h2, h12 = hessian_terms(1.0, THETAS[kind])
    _, exact = exact_derivatives(1.0, THETAS[kind])
    torch.testing.assert_close(h1 + h2 + h12 + h12.T, exact)
    # every term matters on this MDP, so the estimator tests below can tell them apart
    scale = exact.norm()
    assert h1.norm() > 0.3 * scale and h2.norm() > 0.3 * scale and (h12 + h12.T).norm() > 0.3 * scale


@pytest.mark.parametrize("gamma", [1.0, 0.7])
@pytest.mark.parametrize("name", SURROGATES)
def test_expected_gradient_of_every_estimator_is_the_exact_gradient(name, gamma):
    grad, _ = expected_derivatives(name, gamma)
    exact, _ = exact_derivatives(gamma)
    torch.testing.assert_close(grad, exact)


@pytest.mark.parametrize("kind", THETAS)
def test_expected_hessians_loglik_h2_lvc_h1_h2_dice_exact(kind):
    theta = THETAS[kind]
    h1, h2, h12 = hessian_terms(1.0, theta)
    _, exact = exact_derivatives(1.0, theta)
    hess = {name: expected_derivatives(name, 1.0, theta)[1] for name in SURROGATES}
    torch.testing.assert_close(hess["dice"], exact)
    torch.testing.assert_close(hess["lvc"], h1 + h2)
    torch.testing.assert_close(hess["loglik"], h2)
    # loglik's curvature (hence its meta-gradient) is off by a clear margin, lvc's by the cross terms
    assert (hess["loglik"] - exact).norm() > 0.3 * exact.norm()
    assert (hess["lvc"] - exact).norm() > 0.3 * exact.norm()


def test_dice_hessian_is_exact_for_discounted_returns():
    _, exact = exact_derivatives(0.7)
    torch.testing.assert_close(expected_derivatives("dice", 0.7)[1], exact)


def test_with_a_baseline_dice_stays_exact_and_lvc_stays_h1_h2():
    # A baseline b(t, s_t) that does not depend on a_t: R_t becomes R_t - gamma^t b_t in each term. The
    # expected gradients stay exact; lvc and dice keep their expected Hessians, loglik's moves to H2 with b.
    table = torch.as_tensor(seed_everything(2).standard_normal((MDP.horizon, MDP.n_states)))
    exact_grad, exact_hess = exact_derivatives(1.0)
    h1, h2, _ = hessian_terms(1.0)
    h1_b, h2_b, _ = hessian_terms(1.0, baseline_table=table)
    for name in SURROGATES:
        torch.testing.assert_close(expected_derivatives(name, 1.0, baseline_table=table)[0], exact_grad)
    torch.testing.assert_close(expected_derivatives("dice", 1.0, baseline_table=table)[1], exact_hess)
    torch.testing.assert_close(expected_derivatives("lvc", 1.0, baseline_table=table)[1], h1 + h2)
    torch.testing.assert_close(h1_b + h2_b, h1 + h2)
    torch.testing.assert_close(expected_derivatives("loglik", 1.0, baseline_table=table)[1], h2_b)
    assert (h2_b - h2).norm() > 0.1 * h2.norm()


def normalized(advantages, masks):
    """(A - mean) / (std + 1e-8) over the real steps, population std, as rllab's center_adv."""
    real = advantages[masks > 0]
    mean, std = real.mean(), ((real - real.mean()) ** 2).mean().sqrt()
    return (advantages - mean) / (std + 1e-8) * masks


@pytest.mark.parametrize("estimator", ["loglik", "lvc", "dice"])
def test_vpg_inner_loss_gradient_is_vanilla_policy_gradient_on_normalized_advantages(estimator):
    batch = RandomBatch(3)
    advantages = 5 * batch.baseline + 2  # any numbers; normalization makes the scale irrelevant

    def loss(theta, adv=advantages):
        return vpg_inner_loss(batch.log_probs(theta), adv, batch.masks, estimator=estimator)

    assert loss(batch.theta) == 0
    expected = jacobian(
        lambda th: -(batch.log_probs(th) * normalized(advantages, batch.masks)).sum() / batch.masks.sum(), batch.theta
    )
    torch.testing.assert_close(jacobian(loss, batch.theta), expected)
    # normalization: an affine map a A + c (a > 0) of the advantages changes nothing
    rescaled = jacobian(lambda th: loss(th, 0.1 * advantages - 3), batch.theta)
    torch.testing.assert_close(rescaled, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("estimator", ["loglik", "lvc", "dice"])
def test_vpg_inner_loss_is_the_negated_surrogate_with_advantages_to_second_order(estimator):
    # With gamma = 1 and b_t = G_t - A^_t, the surrogate's weights G_t - b_t are the normalized
    # advantages; the inner loss is minus that surrogate per real step (up to a constant).
    batch = RandomBatch(4)
    adv_hat = normalized(batch.baseline, batch.masks)
    baseline = discounted_returns(batch.rewards, batch.masks, gamma=1.0) - adv_hat
    scale = len(batch.masks) / batch.masks.sum()
    loss = derivatives(
        lambda th: vpg_inner_loss(batch.log_probs(th), batch.baseline, batch.masks, estimator=estimator), batch.theta
    )
    surrogate = derivatives(
        lambda th: SURROGATES[estimator](batch.log_probs(th), batch.rewards, batch.masks, gamma=1.0, baseline=baseline),
        batch.theta,
    )
    for a, b in zip(loss, surrogate):
        torch.testing.assert_close(a, -scale * b)
    assert loss[1].abs().max() > 0.01


def test_ppo_clip_value_and_gradient_per_case():
    # One episode, 4 real steps and a padded one; epsilon = 0.2. Ratios exp(+-0.5) lie outside [0.8, 1.2].
    clip = 0.2
    old = torch.zeros(1, 5, dtype=torch.float64)
    shift = torch.tensor([[0.5, -0.5, 0.5, -0.5, 9.0]], dtype=torch.float64)
    advantages = torch.tensor([[1.0, 1.0, -1.0, -1.0, 7.0]], dtype=torch.float64)
    masks = torch.tensor([[1, 1, 1, 1, 0]])
    log_probs = (old + shift).requires_grad_()
    objective = ppo_clip(log_probs, old, advantages, masks, clip=clip)
    (grad,) = torch.autograd.grad(objective, log_probs)
    rho = shift.exp()[0].tolist()
    # min(rho A, clip(rho) A) per step, and whether the unclipped branch (with gradient rho A) wins:
    per_step = [
        ((1 + clip) * 1.0, None),  # A > 0, rho > 1 + eps: clipped, no gradient
        (rho[1] * 1.0, rho[1] * 1.0),  # A > 0, rho < 1 - eps: rho A is smaller
        (rho[2] * -1.0, rho[2] * -1.0),  # A < 0, rho > 1 + eps: rho A is smaller
        ((1 - clip) * -1.0, None),  # A < 0, rho < 1 - eps: clipped, no gradient
    ]
    torch.testing.assert_close(objective, torch.tensor(sum(v for v, _ in per_step) / 4, dtype=torch.float64))
    expected_grad = [[(g or 0.0) / 4 for _, g in per_step] + [0.0]]
    torch.testing.assert_close(grad, torch.tensor(expected_grad, dtype=torch.float64))
    # at theta_old the objective is the mean advantage and its gradient is the policy gradient
    at_old = old.clone().requires_grad_()
    value = ppo_clip(at_old, old, advantages, masks, clip=clip)
    torch.testing.assert_close(value, advantages[0, :4].mean())
    torch.testing.assert_close(torch.autograd.grad(value, at_old)[0], advantages * masks / 4)


def test_bad_input_gets_one_line_error():
    batch = RandomBatch(5)
    log_probs = batch.log_probs(batch.theta)
    with pytest.raises(ValueError, match=r"log_probs \[5, 6\], rewards \[5, 5\], masks \[5, 6\]") as info:
        dice(log_probs, batch.rewards[:, 1:], batch.masks, gamma=1.0)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"baseline \[5, 5\]"):
        lvc(log_probs, batch.rewards, batch.masks, gamma=1.0, baseline=batch.baseline[:, 1:])
    with pytest.raises(ValueError, match=r"log_probs \[6, 5\]"):
        loglik(log_probs.T, batch.rewards, batch.masks, gamma=1.0)
    with pytest.raises(ValueError, match="gamma must be in"):
        loglik(log_probs, batch.rewards, batch.masks, gamma=-1.0)
    with pytest.raises(ValueError, match="masks must hold 1"):
        dice(log_probs, batch.rewards, 1 - batch.masks, gamma=1.0)
    with pytest.raises(ValueError, match=r"unknown estimator 'reinforce'; choose one of 'loglik', 'lvc', 'dice'"):
        vpg_inner_loss(log_probs, batch.rewards, batch.masks, estimator="reinforce")
    with pytest.raises(ValueError, match=r"advantages \[5, 5\]"):
        vpg_inner_loss(log_probs, batch.rewards[:, 1:], batch.masks)
    with pytest.raises(ValueError, match="clip must be"):
        ppo_clip(log_probs, log_probs, batch.rewards, batch.masks, clip=1.5)
