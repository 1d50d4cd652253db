import pytest
import torch
from torch.autograd.functional import hessian, jacobian

from metarl_lite import seed_everything
from metarl_lite.tasks.tabular import TabularMDP, random_mdp


def logits(shape, seed):
    return torch.as_tensor(seed_everything(seed).standard_normal(shape))


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_value_equals_sum_over_enumerated_trajectories(gamma):
    mdp = random_mdp(3, 2, 3, seed=0)
    theta = logits((3, 3, 2), seed=1)
    batch = mdp.trajectories(theta)
    assert len(batch.probs) == (3 * 2) ** 3
    torch.testing.assert_close(batch.probs.sum(), torch.tensor(1.0, dtype=torch.float64))
    discounted = (batch.rewards * gamma ** torch.arange(3)).sum(1)
    torch.testing.assert_close(mdp.value(theta, gamma=gamma), (batch.probs * discounted).sum())
    # expectation() gives the same number through its per-trajectory estimate
    expected = mdp.expectation(theta, lambda lp, tau: (tau.rewards * gamma ** torch.arange(3)).sum())
    torch.testing.assert_close(expected, mdp.value(theta, gamma=gamma))


def test_state_values_are_expected_returns_to_go():
    # V_{H-1}(s) = sum_a pi(a | s) R(s, a), and V_0 averaged over rho is V(theta).
    mdp = random_mdp(2, 3, 4, seed=2)
    theta = logits((2, 3), seed=3)
    values = mdp.state_values(theta, gamma=0.8)
    assert values.shape == (4, 2)
    pi = torch.softmax(theta, dim=-1)
    torch.testing.assert_close(values[-1], (pi * mdp.rewards).sum(-1))
    torch.testing.assert_close(mdp.initial @ values[0], mdp.value(theta, gamma=0.8))


@pytest.mark.parametrize("shape", [(2, 2), (2, 2, 2)], ids=["stationary", "time-dependent"])
def test_gradient_and_hessian_of_value_match_finite_differences(shape):
    mdp = random_mdp(2, 2, 2, seed=4)
    theta = logits(shape, seed=5).flatten()

    def value(flat):
        return mdp.value(flat.reshape(shape), gamma=0.9)

    eps = 1e-5
    basis = torch.eye(len(theta), dtype=theta.dtype)
    fd_grad = torch.stack([(value(theta + eps * e) - value(theta - eps * e)) / (2 * eps) for e in basis])
    fd_hess = torch.stack(
        [(jacobian(value, theta + eps * e) - jacobian(value, theta - eps * e)) / (2 * eps) for e in basis]
    )
    torch.testing.assert_close(jacobian(value, theta), fd_grad, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(hessian(value, theta), fd_hess, rtol=1e-7, atol=1e-9)


def test_stationary_logits_equal_time_dependent_logits_repeated():
    mdp = random_mdp(3, 2, 3, seed=6)
    theta = logits((3, 2), seed=7)
    repeated = theta.expand(3, 3, 2)
    torch.testing.assert_close(mdp.value(theta), mdp.value(repeated))
    # chain rule: the stationary gradient sums the per-step gradients
    torch.testing.assert_close(jacobian(mdp.value, theta), jacobian(mdp.value, repeated.clone()).sum(0))


def test_expected_score_is_zero():
    # E[grad log p(tau)] = grad sum_tau p(tau) = 0, exactly, in every parameter.
    mdp = random_mdp(2, 2, 3, seed=8)
    theta = logits((3, 2, 2), seed=9)
    score = jacobian(lambda th: mdp.expectation(th, lambda lp, tau: lp.sum()), theta)
    assert score.abs().max() < 1e-12
    assert jacobian(lambda th: mdp.log_probs(th, *mdp.trajectories(th)[:2]).sum(), theta).abs().max() > 0.1


def test_random_mdp_is_seeded_and_valid():
    a, b, c = random_mdp(3, 2, 2, seed=0), random_mdp(3, 2, 2, seed=0), random_mdp(3, 2, 2, seed=1)
    assert torch.equal(a.transitions, b.transitions) and torch.equal(a.rewards, b.rewards)
    assert not torch.equal(a.transitions, c.transitions)
    assert a.transitions.shape == (3, 2, 3) and a.initial.shape == (3,) and a.rewards.shape == (3, 2)
    torch.testing.assert_close(a.transitions.sum(-1), torch.ones(3, 2, dtype=torch.float64))
    torch.testing.assert_close(a.initial.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_bad_input_gets_one_line_error():
    mdp = random_mdp(2, 2, 2, seed=0)
    expected = r"\[H, S, A\] = \[2, 2, 2\] or stationary \[S, A\] = \[2, 2\]; got \[3, 2\]"
    with pytest.raises(ValueError, match=expected) as info:
        mdp.value(torch.zeros(3, 2, dtype=torch.float64))
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="transitions must be probabilities"):
        TabularMDP(mdp.initial, mdp.transitions * 2, mdp.rewards, 2)
    with pytest.raises(ValueError, match=r"transitions \[2, 2\]"):
        TabularMDP(mdp.initial, mdp.transitions[..., 0], mdp.rewards, 2)
    with pytest.raises(ValueError, match="horizon"):
        TabularMDP(mdp.initial, mdp.transitions, mdp.rewards, 0)
    with pytest.raises(ValueError, match=r"must be \[N, H = 2\]; got \[4, 1\] and \[4, 1\]"):
        short = torch.zeros(4, 1, dtype=torch.long)
        mdp.log_probs(torch.zeros(2, 2, dtype=torch.float64), short, short)
    with pytest.raises(ValueError, match="too many to enumerate"):
        random_mdp(4, 4, 6, seed=0).trajectories(torch.zeros(4, 4, dtype=torch.float64))
