import numpy as np
import pytest
import torch

from metarl_lite import seed_everything
from metarl_lite.rl.baselines import LinearFeatureBaseline
from metarl_lite.rl.returns import discounted_returns


def random_batch(seed, episodes=5, horizon=40, obs_dim=3, dtype=torch.float64):
    """Observations partly outside [-10, 10] (so clipping matters), episodes of random lengths."""
    rng = seed_everything(seed)
    obs = torch.as_tensor(8 * rng.standard_normal((episodes, horizon, obs_dim)), dtype=dtype)
    lengths = torch.as_tensor([horizon, *rng.integers(1, horizon + 1, size=episodes - 1)])
    masks = (torch.arange(horizon) < lengths[:, None]).to(dtype)
    rewards = torch.as_tensor(rng.standard_normal((episodes, horizon)), dtype=dtype) + obs[..., 0] / 4
    return obs, discounted_returns(rewards, masks, gamma=0.99), masks


def numpy_features(obs, masks):
    """[o, o^2, t/100, (t/100)^2, (t/100)^3, 1] of the real steps, rows in (episode, step) order."""
    rows = []
    for episode, mask in zip(obs.numpy(), masks.numpy()):
        for t in range(int(mask.sum())):
            o = np.clip(episode[t], -10, 10)
            rows.append(np.concatenate([o, o**2, [t / 100, (t / 100) ** 2, (t / 100) ** 3, 1.0]]))
    return np.array(rows)


def ridge_lstsq(x, y, ridge):
    """argmin_w ||x w - y||^2 + ridge ||w||^2 as an ordinary least-squares problem: [x; sqrt(ridge) I] w = [y; 0]."""
    n_features = x.shape[1]
    stacked = np.vstack([x, np.sqrt(ridge) * np.eye(n_features)])
    return np.linalg.lstsq(stacked, np.concatenate([y, np.zeros(n_features)]), rcond=None)[0]


def test_fit_equals_direct_ridge_least_squares():
    obs, returns, masks = random_batch(0)
    assert (obs.abs() > 10).any()
    baseline = LinearFeatureBaseline().fit(obs, returns, masks)
    x = numpy_features(obs, masks)
    w = ridge_lstsq(x, returns.numpy()[masks.numpy() > 0], 1e-5)
    assert baseline.ridge_used == baseline.ridge  # float64: the first solve succeeds
    np.testing.assert_allclose(baseline.weights.numpy(), w, rtol=1e-6, atol=1e-8)
    values = baseline.predict(obs, masks)
    np.testing.assert_allclose(values.numpy()[masks.numpy() > 0], x @ w, rtol=1e-8, atol=1e-8)
    assert (values[masks == 0] == 0).all()


def test_predict_on_new_observations_uses_the_fitted_weights():
    obs, returns, masks = random_batch(1)
    new_obs, _, new_masks = random_batch(2)
    baseline = LinearFeatureBaseline().fit(obs, returns, masks)
    expected = numpy_features(new_obs, new_masks) @ baseline.weights.numpy()
    values = baseline.predict(new_obs, new_masks).numpy()
    np.testing.assert_allclose(values[new_masks.numpy() > 0], expected, rtol=1e-10)


def test_padded_steps_are_ignored_even_nan():
    obs, returns, masks = random_batch(5)
    assert (masks == 0).any()
    nan_padding = torch.where(masks > 0, 0.0, torch.nan)
    clean = LinearFeatureBaseline().fit(obs, returns, masks)
    dirty = LinearFeatureBaseline().fit(obs + nan_padding[..., None], returns + nan_padding, masks)
    torch.testing.assert_close(dirty.weights, clean.weights)
    torch.testing.assert_close(dirty.predict(obs + nan_padding[..., None], masks), clean.predict(obs, masks))


def test_float32_observations_are_fit_in_float64_and_a_singular_solve_retries_with_a_larger_ridge():
    # o = 1 at every step makes the columns o, o^2 and 1 identical. With 256 real steps their
    # diagonal entries of X^T X are 256, and in float32 256 + 1e-5 rounds back to 256 (half an
    # ulp is 1.5e-5): the ridge would vanish. The fit solves in float64, where it does not.
    episodes, horizon = 4, 64
    obs = torch.ones(episodes, horizon, 1)
    masks = torch.ones(episodes, horizon)
    returns = torch.as_tensor(seed_everything(3).standard_normal((episodes, horizon)), dtype=torch.float32)
    x = torch.as_tensor(numpy_features(obs, masks), dtype=torch.float32)
    assert torch.linalg.cholesky_ex(x.T @ x + 1e-5 * torch.eye(x.shape[1])).info > 0

    baseline = LinearFeatureBaseline().fit(obs, returns, masks)
    assert baseline.ridge_used == baseline.ridge
    w = ridge_lstsq(x.double().numpy(), returns.double().numpy().ravel(), baseline.ridge)
    np.testing.assert_allclose(baseline.predict(obs, masks).numpy().ravel(), x.double().numpy() @ w, atol=1e-4)

    # A ridge that vanishes in float64 too (1e-30 next to 256) is raised tenfold until the solve succeeds.
    retried = LinearFeatureBaseline(ridge=1e-30, tries=40).fit(obs, returns, masks)
    assert retried.ridge_used > 1e-30 and torch.isfinite(retried.weights).all()
    w = ridge_lstsq(x.double().numpy(), returns.double().numpy().ravel(), retried.ridge_used)
    np.testing.assert_allclose(retried.predict(obs, masks).numpy().ravel(), x.double().numpy() @ w, atol=1e-3)
    with pytest.raises(RuntimeError, match="singular up to ridge 1e-30"):
        LinearFeatureBaseline(ridge=1e-30, tries=1).fit(obs, returns, masks)


def test_bad_input_gets_one_line_error():
    obs, returns, masks = random_batch(4)
    with pytest.raises(RuntimeError, match="call fit"):
        LinearFeatureBaseline().predict(obs, masks)
    with pytest.raises(ValueError, match=r"obs \[5, 39, 3\], masks \[5, 40\]") as info:
        LinearFeatureBaseline().fit(obs[:, 1:], returns, masks)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"returns \[5, 39\], masks \[5, 40\]"):
        LinearFeatureBaseline().fit(obs, returns[:, 1:], masks)
    with pytest.raises(ValueError, match="must be finite"):
        LinearFeatureBaseline().fit(obs.where(masks[..., None] == 0, torch.nan), returns, masks)
    with pytest.raises(ValueError, match="fit on 3"):
        LinearFeatureBaseline().fit(obs, returns, masks).predict(obs[..., :2], masks)
    with pytest.raises(ValueError, match="ridge"):
        LinearFeatureBaseline(ridge=0.0)
