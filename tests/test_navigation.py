"""metarl_lite.tasks.navigation: 2D navigation (MAML Fig. 4), as a gymnasium env and a native VectorEnv."""

import json
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from metarl_lite.tasks import navigation as nav


def reference_rollout(goal, actions):
    """Positions, rewards and termination flags by a plain loop over coordinates (no NumPy arrays):
    s += 0.1 clip(a, -1, 1), r = -||s - g||, done when |s - g| < 0.01 in x and in y."""
    x, y, out = 0.0, 0.0, []
    for ax, ay in actions:
        x += 0.1 * min(max(float(ax), -1.0), 1.0)
        y += 0.1 * min(max(float(ay), -1.0), 1.0)
        dx, dy = x - goal[0], y - goal[1]
        out.append(((x, y), -math.sqrt(dx * dx + dy * dy), abs(dx) < 0.01 and abs(dy) < 0.01))
        if out[-1][2]:
            break
    return out


def steer(goal, steps, rng, speed=1.5, noise=0.5):
    """Actions that head for ``goal`` (often over the clip limit) with noise, then overshoot past it."""
    actions, position = [], np.zeros(2)
    for _ in range(steps):
        a = np.clip((goal - position) / 0.1, -speed, speed) + noise * rng.standard_normal(2)
        actions.append(a)
        position = position + 0.1 * np.clip(a, -1, 1)
    return np.array(actions)


def test_sample_tasks_are_uniform_goals_in_the_square_and_json_friendly():
    tasks = nav.sample_tasks(2000, np.random.default_rng(0))
    goals = np.array([t["goal"] for t in tasks])
    assert goals.shape == (2000, 2)
    assert goals.min() >= -0.5 and goals.max() <= 0.5
    assert goals.min(axis=0).max() < -0.49 and goals.max(axis=0).min() > 0.49  # the whole square, both axes
    assert abs(np.corrcoef(goals.T)[0, 1]) < 0.1  # x and y drawn independently
    assert json.loads(json.dumps(tasks)) == tasks
    assert nav.sample_tasks(3, np.random.default_rng(1)) == nav.sample_tasks(3, np.random.default_rng(1))


def test_single_env_rewards_and_termination_match_an_independent_rollout():
    goal = [0.23, -0.27]
    env = gym.make(nav.ENV_ID, task={"goal": goal})
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0.0, 0.0])
    # Noiseless steering reaches the goal in 3 steps, two of them clipped (0.23 = 0.1 + 0.1 + 0.03).
    actions = steer(np.array(goal), 10, np.random.default_rng(0), noise=0.0)
    expected = reference_rollout(goal, actions)
    assert [done for _, _, done in expected] == [False, False, True]
    for a, (position, reward, done) in zip(actions, expected):
        obs, r, terminated, truncated, _ = env.step(a.astype(np.float32))
        np.testing.assert_allclose(obs, position, atol=1e-6)
        assert r == pytest.approx(reward, abs=1e-6)
        assert (terminated, truncated) == (done, False)


def test_single_env_truncates_at_the_horizon_with_random_actions():
    rng = np.random.default_rng(1)
    goal = [0.4, 0.4]
    env = gym.make(nav.ENV_ID, task={"goal": goal})
    env.reset(seed=1)
    actions = 3 * rng.standard_normal((nav.HORIZON, 2))  # mostly beyond the clip limit
    expected = reference_rollout(goal, actions)
    assert len(expected) == nav.HORIZON and not any(done for _, _, done in expected)
    for t, (a, (position, reward, _)) in enumerate(zip(actions, expected)):
        obs, r, terminated, truncated, _ = env.step(a)
        np.testing.assert_allclose(obs, position, atol=1e-5)
        assert r == pytest.approx(reward, abs=1e-9)
        assert not terminated and truncated == (t == nav.HORIZON - 1)


def test_vector_env_equals_single_envs_slot_by_slot():
    tasks = nav.sample_tasks(3, np.random.default_rng(2))
    per_task = 2
    venv = nav.make_vec_env(tasks, per_task)
    assert venv.num_envs == 6 and venv.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    np.testing.assert_array_equal(venv.task_ids, [0, 0, 1, 1, 2, 2])  # task-major
    rng = np.random.default_rng(3)
    # even slots steer to their goal (they terminate at different steps), odd slots wander
    actions = np.stack([steer(np.array(tasks[i // per_task]["goal"]), nav.HORIZON, rng, noise=0.03 * (1 + i))
                        if i % 2 == 0 else 0.2 * rng.standard_normal((nav.HORIZON, 2)) for i in range(6)], axis=1)
    singles = [gym.make(nav.ENV_ID, task=tasks[i // per_task]) for i in range(6)]
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (6, 2) and obs.dtype == np.float32 and not obs.any()
    alive = np.ones(6, dtype=bool)
    ended_at = np.full(6, -1)
    for env in singles:
        env.reset(seed=0)
    for t in range(nav.HORIZON):
        last = venv.step(actions[t])
        obs, rewards, terminated, truncated, _ = last
        for i, env in enumerate(singles):
            if alive[i]:
                o, r, term, trunc, _ = env.step(actions[t, i])
                np.testing.assert_array_equal(obs[i], o)
                assert (rewards[i], terminated[i], truncated[i]) == (r, term, trunc)
                if term or trunc:
                    alive[i], ended_at[i] = False, t
            else:  # terminated slots stay terminated, stay put and earn 0
                assert terminated[i] and rewards[i] == 0.0
    # steering slots terminate at different steps; wandering slots run to the horizon
    assert (ended_at[::2] < nav.HORIZON - 1).all() and len(set(ended_at[::2])) == 3
    assert (ended_at[1::2] == nav.HORIZON - 1).all()
    assert truncated.all()
    with pytest.raises(RuntimeError, match="call reset"):
        venv.step(actions[0])
    obs, _ = venv.reset()
    assert not obs.any() and not venv.step(np.zeros((6, 2)))[2].any()


def test_registered_env_passes_the_gymnasium_checker_and_exposes_its_task():
    env = gym.make(nav.ENV_ID)
    assert env.spec.max_episode_steps == nav.HORIZON
    assert env.unwrapped.task == nav.sample_tasks(1, np.random.default_rng(0))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.unwrapped.set_task({"goal": [0.05, 0.0]})
    assert env.unwrapped.task == {"goal": [0.05, 0.0]}
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(np.array([0.5, 0.0], dtype=np.float32))  # moves by 0.1 * 0.5
    assert terminated and reward == pytest.approx(0.0, abs=1e-12)
    task = {"goal": [0.1, 0.2]}
    assert gym.make(nav.ENV_ID, task=task).unwrapped.task == task


@pytest.mark.parametrize(
    "task, match",
    [
        ({"goal": [0.1]}, r"task\['goal'\] must be two finite numbers"),
        ({"goal": [0.1, float("nan")]}, "two finite numbers"),
        ({"goal": "up"}, "two finite numbers"),
        ({"goal": [0.1, 0.2], "velocity": 1.0}, r"\{'goal': \[x, y\]\}; got \['goal', 'velocity'\]"),
        ({"velocity": 1.0}, "got \\['velocity'\\]"),
        ([0.1, 0.2], "got list"),
    ],
)
def test_bad_task_gets_one_line_error(task, match, one_line_errors):
    one_line_errors([(make, match) for make in (lambda: gym.make(nav.ENV_ID, task=task),
                                                lambda: nav.make_vec_env([task], 2))])


def test_bad_actions_and_arguments_get_one_line_errors(one_line_errors):
    env = gym.make(nav.ENV_ID).unwrapped
    env.reset(seed=0)
    venv = nav.make_vec_env(nav.sample_tasks(2, np.random.default_rng(0)), 3)
    venv.reset(seed=0)
    cases = [
        (lambda: env.step(np.zeros(3)), r"actions must have shape \(2,\), got \(3,\)"),
        (lambda: env.step(np.array([0.0, np.inf])), "actions must be finite"),
        (lambda: env.step("left"), "actions must be numbers"),
        (lambda: venv.step(np.zeros((5, 2))), r"actions must have shape \(6, 2\), got \(5, 2\)"),
        (lambda: venv.step(np.where(np.arange(12).reshape(6, 2) == 9, np.nan, 0.0)),
         r"actions must be finite, got \[0.0, nan\] in slot 4"),
        (lambda: nav.make_vec_env([], 2), "tasks is empty"),
        (lambda: nav.make_vec_env([{"goal": [0, 0]}], 0), "episodes_per_task must be a positive integer"),
        (lambda: nav.sample_tasks(0, np.random.default_rng(0)), "positive integer"),
    ]
    one_line_errors(cases)
    with pytest.raises(RuntimeError, match="call reset"):
        nav.make_vec_env([{"goal": [0, 0]}], 1).step(np.zeros((1, 2)))
