"""Widgets, headless: the pure functions compute the right thing, the sliders drive them, and the
output area receives the figure."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from metarl_lite.meta import Platipus, adapt  # noqa: E402
from metarl_lite.nn import init_mlp, mlp  # noqa: E402
from metarl_lite.tasks import Ambiguous, LinearRegression, Sinusoid  # noqa: E402
from metarl_lite.widgets import (  # noqa: E402
    GRID_POINTS,
    adaptation_curves,
    adaptation_widget,
    adapted_fit,
    platipus_samples,
    platipus_widget,
)


@pytest.fixture
def task():
    return Sinusoid().sample_tasks(1, np.random.default_rng(0))[0]


@pytest.fixture
def inits():
    return {"init A": init_mlp([1, 40, 40, 1], seed=0), "init B": init_mlp([1, 40, 40, 1], seed=1)}


def shown_pngs(widget) -> list:
    """The PNG payloads in the widget's output area."""
    return [o["data"]["image/png"] for o in widget.out.outputs if "image/png" in o["data"]]


def test_adapted_fit_matches_hand_computed_steps_on_a_line(task):
    """For f(x) = w x + b and L = mean (f(x) - y)^2, grad_w L = 2 mean(r x), grad_b L = 2 mean(r)
    with residual r; two steps of size alpha from theta, written out by hand, in float64."""
    params = init_mlp([1, 1], seed=3, dtype=torch.float64)
    fit = adapted_fit(params, task, lr=0.05, steps=2, shots=6, seed=7)
    x, y = fit["support_x"], fit["support_y"]
    w, b = params["0.weight"].item(), params["0.bias"].item()
    for _ in range(2):
        r = w * x + b - y
        w, b = w - 0.05 * 2 * np.mean(r * x), b - 0.05 * 2 * np.mean(r)
    np.testing.assert_allclose(fit["after"], w * fit["x"] + b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit["support_mse_after"], np.mean((w * x + b - y) ** 2), rtol=1e-12)
    np.testing.assert_allclose(fit["query_mse"], np.mean((w * fit["x"] + b - fit["y_true"]) ** 2), rtol=1e-12)
    np.testing.assert_allclose(fit["y_true"], task(fit["x"]), rtol=1e-12)


def test_adapted_fit_zero_lr_or_zero_steps_leaves_prediction_unchanged(task, inits):
    for lr, steps in [(0.0, 5), (0.01, 0)]:
        fit = adapted_fit(inits["init A"], task, lr=lr, steps=steps, shots=5, seed=0)
        np.testing.assert_array_equal(fit["after"], fit["before"])
        assert fit["support_mse_after"] == fit["support_mse_before"]
        assert fit["query_mse"] == fit["query_mse_before"]


def test_adapted_fit_more_steps_lower_support_loss(task, inits):
    losses = [adapted_fit(inits["init A"], task, lr=0.01, steps=k, shots=5, seed=0)["support_mse_after"]
              for k in (0, 1, 10)]
    assert losses[2] < losses[1] < losses[0]


def test_adapted_fit_same_seed_same_support_for_every_init(task, inits):
    a, b = (adapted_fit(p, task, lr=0.01, steps=1, shots=5, seed=4) for p in inits.values())
    np.testing.assert_array_equal(a["support_x"], b["support_x"])
    assert a["support_x"].shape == (5,) and a["x"].shape == a["after"].shape == (GRID_POINTS,)
    other = adapted_fit(inits["init A"], task, lr=0.01, steps=1, shots=5, seed=5)
    assert not np.array_equal(a["support_x"], other["support_x"])


def test_adapted_fit_rejects_a_task_without_an_input_range(inits):
    linear_task = LinearRegression(dim=1).sample_tasks(1, np.random.default_rng(0))[0]
    with pytest.raises(ValueError, match="x_range"):
        adapted_fit(init_mlp([1, 1], seed=0, dtype=torch.float64), linear_task, lr=0.01, steps=1, shots=5, seed=0)


def test_adaptation_curves_match_adapting_each_task_separately():
    rng = np.random.default_rng(0)
    tasks = [(t.sample(5, rng, dtype=torch.float64), t.sample(20, rng, dtype=torch.float64))
             for t in Sinusoid().sample_tasks(3, rng)]
    params = init_mlp([1, 8, 1], seed=0, dtype=torch.float64)
    curves = adaptation_curves(params, tasks, lr=0.02, steps=3)

    def loss(p, batch):
        return ((mlp(p, batch[0]) - batch[1]) ** 2).mean()

    for split, column in (("support", 0), ("query", 1)):
        expected = [np.mean([loss(adapt(loss, params, s, lr=0.02, steps=k), (s, q)[column]).item() for s, q in tasks])
                    for k in range(4)]
        np.testing.assert_allclose(curves[split], expected, rtol=1e-12)
    assert curves["support"][3] < curves["support"][0]


def test_adaptation_curves_reject_tasks_of_different_shapes(inits):
    rng = np.random.default_rng(0)
    a, b = Sinusoid().sample_tasks(2, rng)
    with pytest.raises(ValueError, match="equal shapes"):
        adaptation_curves(inits["init A"], [(a.sample(5, rng), a.sample(5, rng)), (b.sample(4, rng), b.sample(5, rng))],
                          lr=0.01, steps=1)


def test_adaptation_widget_sliders_drive_the_fit_and_redraw(task, inits):
    w = adaptation_widget(inits, task, lr=0.01, steps=1, shots=5, seed=0)
    alpha, k = w.children[0], w.children[1]
    assert (alpha.description, k.description) == ("alpha", "k (steps)")
    assert len(shown_pngs(w)) == 1
    one_step = {name: fit["support_mse_after"] for name, fit in w.result.items()}
    first_png = shown_pngs(w)[0]

    k.value = 10
    for name, fit in w.result.items():
        assert fit["support_mse_after"] < one_step[name]
        expected = adapted_fit(inits[name], task, lr=0.01, steps=10, shots=5, seed=0)
        np.testing.assert_array_equal(fit["after"], expected["after"])
    assert len(shown_pngs(w)) == 1 and shown_pngs(w)[0] != first_png  # replaced, not appended

    k.value = 0
    for fit in w.result.values():
        np.testing.assert_array_equal(fit["after"], fit["before"])

    k.value, alpha.value = 1, 0.001
    for name, fit in w.result.items():
        assert fit["support_mse_before"] > fit["support_mse_after"] > one_step[name]


def test_adaptation_widget_needs_an_initialization(task):
    with pytest.raises(ValueError, match="params_by_name is empty"):
        adaptation_widget({}, task)


@pytest.fixture
def platipus():
    return Platipus([1, 40, 40, 1], inner_lr=0.01, kl_weight=1.0, noise_std=0.3, seed=0, init_std=0.1)


def test_platipus_samples_are_reproducible_and_leave_torch_rng_alone(platipus):
    task = Ambiguous().sample_tasks(1, np.random.default_rng(0))[0]
    state = torch.get_rng_state()
    a = platipus_samples(platipus, task, shots=5, n_samples=4, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    b = platipus_samples(platipus, task, shots=5, n_samples=4, seed=1)
    np.testing.assert_array_equal(a["samples"], b["samples"])
    assert a["samples"].shape == (4, GRID_POINTS) and a["support_x"].shape == (5,)
    assert a["samples"].std(axis=0).max() > 0  # sigma > 0: the sampled functions differ


def test_platipus_samples_collapse_to_one_function_when_sigma_is_zero(platipus):
    """theta ~ N(mean_p, sigma^2) with sigma = 0 is the mean: every adapted function is the same,
    namely phi = mean_p - alpha grad L(mean_p, D_tr) with mean_p = mu - gamma_p grad L(mu, D_tr)."""
    task = Ambiguous().sample_tasks(1, np.random.default_rng(0))[0]
    with torch.no_grad():
        for log_sigma in platipus.log_sigma.values():
            log_sigma.fill_(-float("inf"))
    drawn = platipus_samples(platipus, task, shots=5, n_samples=3, seed=0)
    support = task.sample(5, np.random.default_rng(0))
    mu = {k: platipus.mu[k.replace(".", "_")].detach() for k in platipus.names}
    mean_p = {k: mu[k] - platipus.gamma_p[k.replace(".", "_")].detach() * g
              for k, g in torch.func.grad(platipus.loss)(mu, support).items()}
    phi = {k: mean_p[k] - platipus.inner_lr * g for k, g in torch.func.grad(platipus.loss)(mean_p, support).items()}
    expected = mlp(phi, torch.as_tensor(drawn["x"])[:, None]).detach().numpy()[:, 0]
    for sample in drawn["samples"]:
        np.testing.assert_allclose(sample, expected, rtol=0, atol=1e-5)


def test_platipus_widget_sliders_drive_the_samples_and_redraw(platipus):
    w = platipus_widget(platipus, Ambiguous(), seed=0)
    shots, n_samples, which = w.children[0], w.children[1], w.children[2]
    assert (shots.min, shots.max, n_samples.min, n_samples.max) == (1, 10, 1, 20)
    assert len(shown_pngs(w)) == 1
    n_samples.value = 3
    assert w.result["samples"].shape == (3, GRID_POINTS)
    shots.value = 7
    assert w.result["support_x"].shape == (7,)
    before = w.result["y_true"]
    which.value = 1
    assert not np.array_equal(w.result["y_true"], before)
    assert len(shown_pngs(w)) == 1


# 2D navigation: MAML-RL's inner loop drawn as walks toward goals.
from metarl_lite.rl import meta_rl, policies  # noqa: E402
from metarl_lite.tasks import navigation  # noqa: E402
from metarl_lite.widgets import adapted_trajectories, navigation_widget  # noqa: E402

GOALS = [[0.3, -0.2], [-0.4, 0.45]]


@pytest.fixture
def nav_theta():
    return policies.init_policy(2, 2, hidden=(8,), seed=0, log_std=-1.0, dtype=torch.float64)


def test_adapted_trajectories_are_the_walks_of_the_sampled_episodes(nav_theta):
    drawn = adapted_trajectories(nav_theta, GOALS, inner_lr=0.3, steps=2, seed=5, episodes_per_goal=3)
    horizon = navigation.HORIZON
    assert drawn["positions"].shape == (3, 2, 3, horizon + 1, 2) and drawn["returns"].shape == (3, 2)
    np.testing.assert_array_equal(drawn["goals"], GOALS)
    # the same inner loop run directly: every walk passes through the observed positions s_t
    env = navigation.make_vec_env([{"goal": g} for g in GOALS], 3)
    path = meta_rl.sample_path(env, policies.stack([nav_theta] * 2), inner_lr=0.3, inner_steps=2, horizon=horizon,
                               seed=5)
    for j, episodes in enumerate(path.episodes):
        walks = drawn["positions"][j].reshape(6, horizon + 1, 2)
        real = episodes.masks.numpy() > 0
        np.testing.assert_allclose(walks[:, :-1][real], episodes.obs.numpy()[real], rtol=0, atol=1e-6)
    # the returns, recomputed from the walks alone: r_t = -||s_{t+1} - g|| until |s_{t+1} - g| < 0.01 in x and y
    for j in range(3):
        for i, goal in enumerate(GOALS):
            total = 0.0
            for walk in drawn["positions"][j, i]:
                for position in walk[1:]:
                    total -= np.linalg.norm(position - goal)
                    if np.all(np.abs(position - goal) < navigation.GOAL_TOLERANCE):
                        break
            np.testing.assert_allclose(drawn["returns"][j, i], total / 3, rtol=1e-6)
    assert not np.allclose(drawn["positions"][1], drawn["positions"][0])  # each step resamples with phi_j


def test_adapted_trajectories_zero_steps_are_the_pre_update_walks_and_alpha_moves_only_the_later_ones(nav_theta):
    options = {"seed": 1, "episodes_per_goal": 4}
    before = adapted_trajectories(nav_theta, GOALS, inner_lr=0.1, steps=0, **options)
    small = adapted_trajectories(nav_theta, GOALS, inner_lr=0.1, steps=1, **options)
    large = adapted_trajectories(nav_theta, GOALS, inner_lr=1.0, steps=1, **options)
    assert before["positions"].shape[0] == 1 and small["positions"].shape[0] == 2
    for other in (small, large):
        np.testing.assert_array_equal(other["positions"][0], before["positions"][0])
        np.testing.assert_array_equal(other["returns"][0], before["returns"][0])
    assert np.abs(large["positions"][1] - small["positions"][1]).max() > 0.01
    with pytest.raises(ValueError, match="inner_lr must be a finite number >= 0"):
        adapted_trajectories(nav_theta, GOALS, inner_lr=-0.1, steps=1)
    with pytest.raises(ValueError, match="task\\['goal'\\] must be two finite numbers"):
        adapted_trajectories(nav_theta, [[0.1, 0.2, 0.3]], steps=0)


def test_navigation_widget_sliders_drive_the_trajectories_and_redraw(nav_theta):
    w = navigation_widget(nav_theta, GOALS, inner_lr=0.1, steps=1, seed=2, episodes_per_goal=3)
    alpha, k = w.children[0], w.children[1]
    assert (alpha.description, k.description) == ("alpha", "k (steps)")
    assert len(shown_pngs(w)) == 1 and w.result["positions"].shape[0] == 2
    first_png = shown_pngs(w)[0]

    k.value = 3
    expected = adapted_trajectories(nav_theta, GOALS, inner_lr=0.1, steps=3, seed=2, episodes_per_goal=3)
    np.testing.assert_array_equal(w.result["positions"], expected["positions"])
    assert len(shown_pngs(w)) == 1 and shown_pngs(w)[0] != first_png  # replaced, not appended

    alpha.value = 1.0
    larger = adapted_trajectories(nav_theta, GOALS, inner_lr=1.0, steps=3, seed=2, episodes_per_goal=3)
    np.testing.assert_array_equal(w.result["positions"], larger["positions"])
    np.testing.assert_array_equal(w.result["positions"][0], expected["positions"][0])
    assert not np.array_equal(w.result["positions"][1:], expected["positions"][1:])


def test_navigation_widget_needs_goals(nav_theta):
    with pytest.raises(ValueError, match="goals is empty"):
        navigation_widget(nav_theta, [])


# MuJoCo: the return of a run's policy after 0..K VPG steps (the evaluation protocol).
from metarl_lite import configs  # noqa: E402
from metarl_lite.rl import training  # noqa: E402
from metarl_lite.widgets import mujoco_adaptation, mujoco_adaptation_widget  # noqa: E402

DIRECTIONS = [{"direction": -1}, {"direction": 1}]


@pytest.fixture(scope="module")
def cheetah_learner():
    """An untrained HalfCheetahDir policy with a small network, episodes of 10 steps, 3 per task and step."""
    config = configs.make_config("random", "halfcheetah-dir", "quick", hidden=(8,), horizon=10, eval_episodes=3)
    return training.make_learner(config)


def test_mujoco_adaptation_has_k_plus_one_points_that_the_evaluation_protocol_computes(cheetah_learner):
    drawn = mujoco_adaptation(cheetah_learner, DIRECTIONS, lr=0.3, steps=2, seed=5)
    assert drawn["returns"].shape == (3, 2) and drawn["labels"] == ["direction -1", "direction 1"]
    assert (drawn["lr"], drawn["later_lr"], drawn["episodes_per_task"]) == (0.3, 0.15, 3)
    expected = training.adaptation_returns(cheetah_learner, DIRECTIONS, adapt_steps=2, adapt_lr=0.3, seed=5)
    np.testing.assert_array_equal(drawn["returns"], expected[:, 0].T.numpy())  # [tasks, 1, K + 1] -> [K + 1, tasks]
    for steps in (0, 4):
        returns = mujoco_adaptation(cheetah_learner, DIRECTIONS, lr=0.3, steps=steps, seed=5)["returns"]
        assert returns.shape == (steps + 1, 2)


def test_mujoco_adaptation_alpha_moves_the_adapted_returns_only(cheetah_learner):
    small, large = (mujoco_adaptation(cheetah_learner, DIRECTIONS, lr=lr, steps=2, seed=1, episodes_per_task=2)
                    for lr in (0.01, 1.0))
    np.testing.assert_array_equal(small["returns"][0], large["returns"][0])  # D_0: the same policy and seed
    assert np.abs(small["returns"][1:] - large["returns"][1:]).min() > 0
    with pytest.raises(ValueError, match="tasks is empty"):
        mujoco_adaptation(cheetah_learner, [], lr=0.1, steps=1)
    with pytest.raises(ValueError, match="inner_lr must be a finite number >= 0"):
        mujoco_adaptation(cheetah_learner, DIRECTIONS, lr=-0.1, steps=1)


def test_mujoco_adaptation_widget_sliders_drive_the_curve_and_redraw(cheetah_learner):
    w = mujoco_adaptation_widget(cheetah_learner, DIRECTIONS, steps=1, seed=2)
    alpha, k = w.children[0], w.children[1]
    assert (alpha.description, k.description) == ("alpha", "K (steps)")
    assert alpha.value == pytest.approx(cheetah_learner.config.inner_lr)  # the run's alpha by default
    assert len(shown_pngs(w)) == 1 and w.result["returns"].shape == (2, 2)
    first_png = shown_pngs(w)[0]

    k.value = 3
    expected = mujoco_adaptation(cheetah_learner, DIRECTIONS, lr=alpha.value, steps=3, seed=2)
    np.testing.assert_array_equal(w.result["returns"], expected["returns"])
    assert len(shown_pngs(w)) == 1 and shown_pngs(w)[0] != first_png  # replaced, not appended

    alpha.value = 1.0
    np.testing.assert_array_equal(w.result["returns"],
                                  mujoco_adaptation(cheetah_learner, DIRECTIONS, lr=1.0, steps=3, seed=2)["returns"])
    np.testing.assert_array_equal(w.result["returns"][0], expected["returns"][0])
    with pytest.raises(ValueError, match="tasks is empty"):
        mujoco_adaptation_widget(cheetah_learner, [])
