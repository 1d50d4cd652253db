"""metarl_lite.rl.sampler's worker processes: SamplerPool gives the episodes of the in-process sampler."""

import multiprocessing
import pickle
import threading

import numpy as np
import pytest
import torch

from metarl_lite.rl import meta_rl, policies, sampler
from metarl_lite.rl.sampler import SamplerPool, action_noise, sample_episodes, task_means
from metarl_lite.tasks import RL_FAMILIES, navigation, oracle

FAMILY = "halfcheetah-vel"
FIELDS = ("obs", "actions", "rewards", "masks", "log_probs", "task_ids")


@pytest.fixture(scope="module")
def pools():
    """Pools with 1 and 2 workers, started once for the module (each worker imports torch: seconds)."""
    with SamplerPool(FAMILY, workers=1) as one, SamplerPool(FAMILY, workers=2) as two:
        yield {1: one, 2: two}


def per_task_params(n, obs_dim, act_dim, dtype=torch.float32):
    return policies.stack([policies.init_policy(obs_dim, act_dim, seed=i, log_std=-0.5, dtype=dtype)
                           for i in range(n)])


def assert_same(a, b):
    for name in FIELDS:
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tasks, per_task", [(1, 1), (3, 4), (5, 1)])
def test_task_means_equal_the_policy_mean(tasks, per_task, dtype):
    params = per_task_params(tasks, 17, 6, dtype)
    obs = torch.randn(tasks, per_task, 17, dtype=dtype)
    mean, _ = policies.gaussian(params, obs)
    with torch.no_grad():
        torch.testing.assert_close(task_means(params, obs), mean)  # equal up to the rounding of the products


def test_workers_give_the_episodes_of_the_in_process_sampler_whatever_their_number(pools):
    family = RL_FAMILIES[FAMILY]
    tasks = family.sample_tasks(3, np.random.default_rng(0))
    params = per_task_params(3, 17, 6)
    local = sample_episodes(family.make_vec_env(tasks, 2), params, horizon=30, seed=4)
    for workers, pool in pools.items():
        env = pool.make_vec_env(tasks, 2)
        assert (env.num_envs, env.tasks, env.episodes_per_task) == (6, tasks, 2)
        np.testing.assert_array_equal(env.task_ids, [0, 0, 1, 1, 2, 2])
        assert len(env.shares) == workers
        batch = sample_episodes(env, params, horizon=30, seed=4)
        assert_same(batch, local)
        assert_same(sample_episodes(env, params, horizon=30, seed=4), batch)  # the cached env, reset again
        assert not torch.equal(sample_episodes(env, params, horizon=30, seed=5).obs, batch.obs)
    assert len(set(local.obs[:, 0, 0].tolist())) == 6  # every slot starts from its own state
    assert local.masks.all() and local.obs.shape == (6, 30, 17)


def test_an_oracle_pool_gives_the_episodes_of_the_in_process_oracle_env():
    family = RL_FAMILIES[FAMILY]
    tasks = family.sample_tasks(3, np.random.default_rng(2))
    params = per_task_params(3, 18, 6)  # HalfCheetahVel's 17 observations and the target velocity
    local = sample_episodes(oracle.make_vec_env(family, tasks, 2, oracle=True), params, horizon=20, seed=1)
    with SamplerPool(FAMILY, workers=2, oracle=True) as pool:
        env = pool.make_vec_env(tasks, 2)
        assert env.single_observation_space.shape == (18,)
        assert_same(sample_episodes(env, params, horizon=20, seed=1), local)
    velocities = np.repeat([task["velocity"] for task in tasks], 2).astype(np.float32)  # obs are float32
    np.testing.assert_array_equal(local.obs[:, :, -1], np.broadcast_to(velocities[:, None], (6, 20)))


def test_a_pool_is_a_drop_in_make_env_for_meta_rl_evaluation(pools):
    family = RL_FAMILIES[FAMILY]
    tasks = family.sample_tasks(2, np.random.default_rng(1))
    theta = policies.init_policy(17, 6, seed=0)
    kwargs = dict(adapt_steps=1, episodes_per_task=2, horizon=20, seed=3)
    local = meta_rl.evaluate(theta, tasks, make_env=family.make_vec_env, **kwargs)
    pooled = meta_rl.evaluate(theta, tasks, make_env=pools[2].make_vec_env, **kwargs)
    torch.testing.assert_close(pooled, local, rtol=0, atol=0)


def test_errors_in_a_worker_reach_the_caller_with_global_slot_numbers(pools):
    family = RL_FAMILIES[FAMILY]
    tasks = family.sample_tasks(3, np.random.default_rng(0))
    params = per_task_params(3, 17, 6)
    with torch.no_grad():
        params["0.bias"][2, 0] = float("nan")  # task 2's policy outputs NaN actions
    env = pools[2].make_vec_env(tasks, 2)
    assert env.shares == [(0, 2), (2, 3)]  # task 2 lives in the second worker
    with pytest.raises(ValueError, match=r"actions must be finite, got \[nan.* in slot 4$") as info:
        sample_episodes(env, params, horizon=5, seed=0)
    assert "\n" not in str(info.value)
    params = per_task_params(3, 17, 6)
    assert sample_episodes(env, params, horizon=5, seed=0).masks.all()  # the pool still works
    with pytest.raises(ValueError, match=r"task\['velocity'\] must be a number in \[0.0, 2.0\], got 3"):
        pools[2].make_vec_env([{"velocity": 3}], 2)  # tasks are checked in the parent
    with pytest.raises(ValueError, match="4 slots, not a multiple of the 3 tasks"):
        sample_episodes(pools[1].make_vec_env(tasks[:2], 2), params, horizon=5, seed=0)


def test_pool_lifecycle_and_bad_arguments():
    with pytest.raises(ValueError, match="unknown task family 'cheetah'"):
        SamplerPool("cheetah")
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        SamplerPool("nav2d", workers=0)
    with SamplerPool("nav2d", workers=1) as pool:
        tasks = navigation.sample_tasks(2, np.random.default_rng(0))
        env = pool.make_vec_env(tasks, 3)
        params = per_task_params(2, 2, 2)
        local = sample_episodes(navigation.make_vec_env(tasks, 3), params, horizon=20, seed=1)
        assert_same(sample_episodes(env, params, horizon=20, seed=1), local)
        processes = list(pool._processes)
        with pytest.raises(ValueError, match="episodes_per_task must be a positive integer"):
            pool.make_vec_env(tasks, 0)
    assert not any(p.is_alive() for p in processes)
    pool.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        sample_episodes(env, params, horizon=20, seed=1)
    with pytest.raises(RuntimeError, match="closed"):
        pool.make_vec_env(tasks, 3)


def nav2d_message(tasks, per_task=2, horizon=5):
    """A request as the pool sends it to a worker: the whole batch on one worker."""
    params = {k: v.detach().numpy() for k, v in per_task_params(len(tasks), 2, 2).items()}
    noise = action_noise(0, len(tasks) * per_task, horizon, 2, torch.float32).numpy()
    return 0, tasks, per_task, 0, params, 0, noise


def test_a_worker_whose_parent_died_exits_quietly(capfd):
    tasks, threads = navigation.sample_tasks(2, np.random.default_rng(0)), torch.get_num_threads()
    try:
        for sent in (False, True):  # killed while the worker waits, or while it rolls out (no one reads the reply)
            parent, child = multiprocessing.Pipe()
            if sent:
                parent.send(nav2d_message(tasks))
            parent.close()
            sampler._serve(child, "nav2d", False, 1)
    finally:
        torch.set_num_threads(threads)  # _serve sets a worker's 1 thread
    assert capfd.readouterr().err == ""


def test_a_worker_sends_an_error_that_does_not_pickle_as_its_type_and_message(monkeypatch):
    class Unpicklable(ValueError):
        def __init__(self):
            super().__init__("bad step")
            self.lock = threading.Lock()

    def failing_rollout(*args, **kwargs):
        raise Unpicklable()

    tasks = navigation.sample_tasks(2, np.random.default_rng(0))
    status, columns = sampler._reply(nav2d_message(tasks), navigation, False, 1, {})
    assert status == "ok" and columns[0].shape == (4, 5, 2)
    monkeypatch.setattr(sampler, "_rollout", failing_rollout)
    status, error = sampler._reply(nav2d_message(tasks), navigation, False, 1, {})
    assert status == "error" and type(error) is RuntimeError and str(error) == "Unpicklable: bad step"
    pickle.dumps(error)
