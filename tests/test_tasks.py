"""metarl_lite.tasks: the regression task families (Sinusoid, LinearRegression, Ambiguous)."""

import math

import numpy as np
import pytest
import torch

from metarl_lite.tasks import Ambiguous, LinearRegression, Sinusoid

FAMILIES = {"sinusoid": Sinusoid(), "linear": LinearRegression(dim=3, noise_std=0.1), "ambiguous": Ambiguous()}


def draw(family, seed, n=3, k=4):
    """n tasks and k points from each, from one seeded Generator."""
    rng = np.random.default_rng(seed)
    tasks = family.sample_tasks(n, rng)
    return tasks, [task.sample(k, rng) for task in tasks]


# ---- Sinusoid ------------------------------------------------------------------------------------


def test_sinusoid_amplitude_and_phase_lie_in_their_ranges_and_fill_them():
    tasks = Sinusoid().sample_tasks(2000, np.random.default_rng(0))
    amplitudes = np.array([t.amplitude for t in tasks])
    phases = np.array([t.phase for t in tasks])
    for values, (lo, hi) in ((amplitudes, (0.1, 5.0)), (phases, (0.0, math.pi))):
        assert lo <= values.min() and values.max() <= hi
        assert values.min() < lo + 0.02 * (hi - lo) and values.max() > hi - 0.02 * (hi - lo)


def test_sinusoid_samples_have_shape_k_by_1_x_in_range_and_y_on_the_curve():
    task = Sinusoid().sample_tasks(1, np.random.default_rng(0))[0]
    x, y = task.sample(500, np.random.default_rng(1))
    assert x.shape == y.shape == (500, 1) and x.dtype == y.dtype == torch.float32
    assert -5 <= x.min() and x.max() <= 5 and x.min() < -4.9 and x.max() > 4.9
    expected = task.amplitude * np.sin(x.double().numpy() - task.phase)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(task(x), y)  # the task is callable on tensors as well as arrays


def test_sinusoid_samples_honour_dtype():
    task = Sinusoid().sample_tasks(1, np.random.default_rng(0))[0]
    x, y = task.sample(3, np.random.default_rng(1), dtype=torch.float64)
    assert x.dtype == y.dtype == torch.float64


# ---- LinearRegression ----------------------------------------------------------------------------


def test_linear_regression_samples_follow_the_linear_map():
    task = LinearRegression(dim=3).sample_tasks(1, np.random.default_rng(0))[0]
    x, y = task.sample(50, np.random.default_rng(1))
    assert x.shape == (50, 3) and y.shape == (50, 1) and x.dtype == y.dtype == torch.float64
    expected = x @ torch.tensor(task.weight, dtype=torch.float64)[:, None] + task.bias
    torch.testing.assert_close(y, expected, rtol=1e-14, atol=1e-14)


def test_linear_regression_noise_has_the_given_std_and_x_is_standard_normal():
    task = LinearRegression(dim=2, noise_std=0.5).sample_tasks(1, np.random.default_rng(0))[0]
    x, y = task.sample(20000, np.random.default_rng(1))
    residual = y[:, 0] - (x @ torch.tensor(task.weight, dtype=torch.float64) + task.bias)
    # The sample std of 20000 normals is within 2% of the truth (about 4 standard errors).
    assert residual.std().item() == pytest.approx(0.5, rel=0.02)
    assert x.mean(0).abs().max() < 0.05 and (x.std(0) - 1).abs().max() < 0.02


def test_linear_regression_task_parameters_have_the_family_dimension():
    tasks = LinearRegression(dim=5).sample_tasks(4, np.random.default_rng(0))
    assert len(tasks) == 4 and all(len(t.weight) == 5 and isinstance(t.bias, float) for t in tasks)


# ---- Ambiguous -----------------------------------------------------------------------------------


def test_ambiguous_mixes_lines_and_sinusoids_half_and_half():
    tasks = Ambiguous().sample_tasks(2000, np.random.default_rng(0))
    lines = [t for t in tasks if t.kind == "line"]
    sines = [t for t in tasks if t.kind == "sine"]
    assert len(lines) + len(sines) == len(tasks)
    # Binomial(2000, 1/2) has std 22: 0.45..0.55 is a margin of 4.5 standard deviations.
    assert 0.45 < len(lines) / len(tasks) < 0.55
    assert all(-3 <= t.a <= 3 and -3 <= t.b <= 3 for t in lines)
    assert all(0.1 <= t.a <= 5 and 0 <= t.b <= math.pi for t in sines)


@pytest.mark.parametrize("kind", ["line", "sine"])
def test_ambiguous_points_follow_their_function_with_the_family_noise(kind):
    family = Ambiguous()
    task = next(t for t in family.sample_tasks(20, np.random.default_rng(0)) if t.kind == kind)
    x, y = task.sample(20000, np.random.default_rng(1), dtype=torch.float64)
    clean = task.a * x + task.b if kind == "line" else task.a * torch.sin(x - task.b)
    assert (y - clean).std().item() == pytest.approx(family.noise_std, rel=0.02)
    assert (y - clean).mean().abs() < 0.01


def test_ambiguous_support_comes_from_the_window_and_query_from_the_whole_range():
    family = Ambiguous()
    task = family.sample_tasks(1, np.random.default_rng(0))[0]
    rng = np.random.default_rng(1)
    (x_support, _), (x_query, _) = task.sample(2000, rng), task.sample_query(2000, rng)
    for x, (lo, hi) in ((x_support, family.support_range), (x_query, family.query_range)):
        assert x.shape == (2000, 1)
        assert lo <= x.min() and x.max() <= hi
        assert x.min() < lo + 0.02 * (hi - lo) and x.max() > hi - 0.02 * (hi - lo)


# ---- every family --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FAMILIES))
def test_tasks_and_points_are_deterministic_given_the_generator(name):
    family = FAMILIES[name]
    tasks, points = draw(family, seed=5)
    tasks_again, points_again = draw(family, seed=5)
    tasks_other, points_other = draw(family, seed=6)
    assert tasks == tasks_again and tasks != tasks_other
    torch.testing.assert_close(points, points_again, rtol=0, atol=0)
    assert not torch.equal(points[0][1], points_other[0][1])


@pytest.mark.parametrize("k", [0, -1, 2.5, "3"])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_fewer_than_one_point_or_a_non_integer_k_is_rejected(name, k):
    task = FAMILIES[name].sample_tasks(1, np.random.default_rng(0))[0]
    samplers = [task.sample] + ([task.sample_query] if name == "ambiguous" else [])
    for sample in samplers:
        with pytest.raises(ValueError, match=f"^k \\(points per task\\) must be a positive integer, got {k!r}$"):
            sample(k, np.random.default_rng(0))


@pytest.mark.parametrize("name", list(FAMILIES))
def test_numpy_integer_k_is_accepted(name):
    task = FAMILIES[name].sample_tasks(1, np.random.default_rng(0))[0]
    x, y = task.sample(np.int64(3), np.random.default_rng(0))
    assert len(x) == len(y) == 3
