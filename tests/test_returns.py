import math

import pytest
import torch

from metarl_lite import seed_everything
from metarl_lite.rl.returns import discounted_returns, gae

# Two episodes of T = 3 steps; the second one ends after 2 steps, and its padded step holds
# garbage that must not reach any output.
REWARDS = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 100.0]], dtype=torch.float64)
VALUES = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 100.0]], dtype=torch.float64)
MASKS = torch.tensor([[1, 1, 1], [1, 1, 0]])


def test_discounted_returns_hand_computed_gamma_half():
    # G_t = r_t + 0.5 G_{t+1}, and nothing after the last real step.
    expected = [
        [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3],  # 2.75, 3.5, 3
        [1 + 0.5 * 2, 2, 0],  # the padded reward 100 is ignored
    ]
    returns = discounted_returns(REWARDS, MASKS, gamma=0.5)
    torch.testing.assert_close(returns, torch.tensor(expected, dtype=torch.float64))


def test_gae_hand_computed_gamma_half_lambda_half():
    # delta_t = r_t + 0.5 V_{t+1} - V_t with V = 0 after the episode; A_t = delta_t + 0.25 A_{t+1}.
    # Episode 1: delta = (1 + 0.5 - 1, 2 + 0.5 - 1, 3 + 0 - 1) = (0.5, 1.5, 2);
    #            A_2 = 2, A_1 = 1.5 + 0.25 * 2 = 2, A_0 = 0.5 + 0.25 * 2 = 1.
    # Episode 2: delta = (1 + 0.5 - 1, 2 + 0 - 1) = (0.5, 1): the padded V = 100 is not bootstrapped;
    #            A_1 = 1, A_0 = 0.5 + 0.25 * 1 = 0.75, and A = 0 at the padded step.
    expected = [[1.0, 2.0, 2.0], [0.75, 1.0, 0.0]]
    advantages = gae(REWARDS, VALUES, MASKS, gamma=0.5, lam=0.5)
    torch.testing.assert_close(advantages, torch.tensor(expected, dtype=torch.float64))


def reference(rewards, values, lengths, gamma, lam):
    """Returns-to-go and GAE by a plain Python loop over each episode's real steps."""
    returns, advantages = [], []
    for r, v, length in zip(rewards.tolist(), values.tolist(), lengths):
        g, a, next_value = 0.0, 0.0, 0.0
        row_g, row_a = [0.0] * len(r), [0.0] * len(r)
        for t in reversed(range(length)):
            g = r[t] + gamma * g
            a = r[t] + gamma * next_value - v[t] + gamma * lam * a
            next_value = v[t]
            row_g[t], row_a[t] = g, a
        returns.append(row_g)
        advantages.append(row_a)
    return torch.tensor(returns, dtype=torch.float64), torch.tensor(advantages, dtype=torch.float64)


def random_batch(seed, episodes=6, horizon=9):
    rng = seed_everything(seed)
    rewards = torch.as_tensor(rng.standard_normal((episodes, horizon)))
    values = torch.as_tensor(rng.standard_normal((episodes, horizon)))
    lengths = [horizon, 1, *rng.integers(1, horizon + 1, size=episodes - 2).tolist()]
    masks = (torch.arange(horizon) < torch.tensor(lengths)[:, None]).double()
    return rewards, values, masks, lengths


@pytest.mark.parametrize("gamma, lam", [(0.99, 1.0), (0.9, 0.95), (1.0, 0.0), (0.0, 0.5)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_returns_and_gae_match_python_reference_loop(seed, gamma, lam):
    rewards, values, masks, lengths = random_batch(seed)
    expected_returns, expected_advantages = reference(rewards, values, lengths, gamma, lam)
    torch.testing.assert_close(discounted_returns(rewards, masks, gamma=gamma), expected_returns)
    torch.testing.assert_close(gae(rewards, values, masks, gamma=gamma, lam=lam), expected_advantages)


def test_gae_lambda_one_is_returns_minus_values_and_lambda_zero_is_td_error():
    rewards, values, masks, _ = random_batch(3)
    returns = discounted_returns(rewards, masks, gamma=0.9)
    torch.testing.assert_close(gae(rewards, values, masks, gamma=0.9, lam=1.0), (returns - values) * masks)
    next_values = torch.cat([values[:, 1:] * masks[:, 1:], torch.zeros(len(values), 1, dtype=values.dtype)], dim=1)
    td_error = (rewards + 0.9 * next_values - values) * masks
    torch.testing.assert_close(gae(rewards, values, masks, gamma=0.9, lam=0.0), td_error)


def test_padded_steps_do_not_leak_even_nan():
    rewards, values, masks, _ = random_batch(4)
    garbage = torch.where(masks > 0, 0.0, math.nan)
    for clean, dirty in [
        (discounted_returns(rewards, masks, gamma=0.9), discounted_returns(rewards + garbage, masks, gamma=0.9)),
        (
            gae(rewards, values, masks, gamma=0.9, lam=0.9),
            gae(rewards + garbage, values + garbage, masks, gamma=0.9, lam=0.9),
        ),
    ]:
        torch.testing.assert_close(dirty, clean)
        assert (clean[masks == 0] == 0).all()


def test_bad_input_gets_one_line_error():
    with pytest.raises(ValueError, match=r"rewards \[2, 3\], values \[2, 2\], masks \[2, 3\]") as info:
        gae(REWARDS, VALUES[:, :2], MASKS, gamma=0.5, lam=1.0)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="masks must hold 1"):
        discounted_returns(REWARDS, torch.tensor([[1, 0, 1], [1, 1, 0]]), gamma=0.5)
    with pytest.raises(ValueError, match="gamma must be in"):
        discounted_returns(REWARDS, MASKS, gamma=1.5)
    with pytest.raises(ValueError, match="lam must be in"):
        gae(REWARDS, VALUES, MASKS, gamma=0.5, lam=-0.1)
    with pytest.raises(ValueError, match="shape"):
        discounted_returns(REWARDS[0], MASKS[0], gamma=0.5)
