"""metarl_lite.tasks.mujoco: the six MuJoCo task families as native vector envs and registered single envs."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering, before MuJoCo is imported (as `make test` sets it)

import copy  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import warnings  # noqa: E402

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402
from gymnasium.vector import AutoresetMode  # noqa: E402

from metarl_lite.tasks import RL_FAMILIES  # noqa: E402
from metarl_lite.tasks.mujoco import SimulationDiverged, ant, common, half_cheetah, random_params  # noqa: E402
from metarl_lite.tasks.oracle import OracleVecEnv  # noqa: E402

MUJOCO = {name: family for name, family in RL_FAMILIES.items() if name != "nav2d"}
GYMNASIUM_ID = {"half_cheetah.xml": "HalfCheetah-v5", "ant.xml": "Ant-v5", "walker2d_v5.xml": "Walker2d-v5",
                "hopper.xml": "Hopper-v5"}


def gymnasium_env(xml):
    """gymnasium's own v5 env of the robot, made without its MuJoCo warning reaching the console."""
    with common.mujoco_warnings():
        return gym.make(GYMNASIUM_ID[xml]).unwrapped


def test_registry_lists_every_family_under_its_cli_name_with_the_family_interface():
    assert set(MUJOCO) == {"halfcheetah-vel", "halfcheetah-dir", "ant-dir", "ant-goal", "walker2d-params",
                           "hopper-params"}
    ids = {name: family.ENV_ID for name, family in MUJOCO.items()}
    assert ids == {"halfcheetah-vel": "metarl_lite/HalfCheetahVel-v0",
                   "halfcheetah-dir": "metarl_lite/HalfCheetahDir-v0", "ant-dir": "metarl_lite/AntDir-v0",
                   "ant-goal": "metarl_lite/AntGoal-v0",
                   "walker2d-params": "metarl_lite/Walker2dRandParams-v0",
                   "hopper-params": "metarl_lite/HopperRandParams-v0"}
    horizons = {name: family.HORIZON for name, family in MUJOCO.items()}
    assert horizons == {"halfcheetah-vel": 100, "halfcheetah-dir": 100, "ant-dir": 200, "ant-goal": 200,
                        "walker2d-params": 200, "hopper-params": 200}
    assert "nav2d" in RL_FAMILIES


@pytest.mark.parametrize("xml", sorted(GYMNASIUM_ID))
def test_models_equal_gymnasiums_compiled_ones_and_compile_silently(xml, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    capfd.readouterr()
    ours = common.base_model.__wrapped__(xml)  # compile afresh, not from the cache
    assert not os.listdir(tmp_path), "compiling wrote a file (MUJOCO_LOG.TXT?) into the current folder"
    assert capfd.readouterr() == ("", "")
    theirs = gymnasium_env(xml).model
    for name in ("body_mass", "body_inertia", "body_ipos", "body_iquat", "body_subtreemass", "body_invweight0",
                 "dof_invweight0", "dof_damping", "dof_armature", "geom_friction", "actuator_gear",
                 "actuator_ctrlrange", "actuator_acc0", "qpos0"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=name)
    assert ours.stat.meaninertia == pytest.approx(theirs.stat.meaninertia, rel=1e-12)
    assert ours.stat.meanmass == pytest.approx(theirs.stat.meanmass, rel=1e-12)
    assert ours.opt.timestep == theirs.opt.timestep and ours.opt.integrator == theirs.opt.integrator
    if xml == "half_cheetah.xml":  # settotalmass="14" kept its meaning
        assert ours.body_mass.sum() == pytest.approx(14.0, rel=1e-12)


@pytest.mark.parametrize("name", sorted(MUJOCO))
def test_frame_skip_dt_and_dynamics_equal_gymnasium_v5_step_for_step(name):
    family = MUJOCO[name]
    theirs = gymnasium_env(family.robot.xml)
    assert family.robot.frame_skip == theirs.frame_skip
    task = family.sample_tasks(1, np.random.default_rng(0))[0]
    if name.endswith("params"):  # all multipliers 1: gymnasium's robot
        task = {key: np.ones_like(value).tolist() for key, value in task.items()}
    env = family.make_vec_env([task], 1)
    assert env.dt == theirs.dt == theirs.model.opt.timestep * theirs.frame_skip
    env.reset(seed=1)
    theirs.reset(seed=0)
    theirs.set_state(env.datas[0].qpos.copy(), env.datas[0].qvel.copy())
    rng = np.random.default_rng(2)
    for _ in range(10):
        action = rng.uniform(-1, 1, env.single_action_space.shape)
        _, _, terminated, _, _ = env.step(action[None])
        theirs.step(action)
        np.testing.assert_allclose(env.datas[0].qpos, theirs.data.qpos, rtol=0, atol=1e-12)
        np.testing.assert_allclose(env.datas[0].qvel, theirs.data.qvel, rtol=0, atol=1e-10)
        if terminated[0]:
            break
    if name in ("halfcheetah-dir", "walker2d-params", "hopper-params") or name == "ant-dir":
        theirs_obs = theirs._get_obs()
        ours_obs = family.observe(common.State(env.datas[0].qpos[None], env.datas[0].qvel[None],
                                               env.datas[0].cfrc_ext[None].copy()))[0]
        np.testing.assert_allclose(ours_obs, theirs_obs, rtol=0, atol=1e-12)  # gymnasium v5's observation


def expected_step(name, family, task, dt, before, data, action):
    """r_t and terminated of one step, from the plain formulas of DESIGN.md (a clipped to [-1, 1])."""
    a = np.clip(action, -1.0, 1.0)
    qpos, qvel, cfrc = data.qpos, data.qvel, data.cfrc_ext
    contact = sum(min(max(f, -1.0), 1.0) ** 2 for f in cfrc.ravel())
    if name == "halfcheetah-vel":
        return -abs((qpos[0] - before[0]) / dt - task["velocity"]) - 0.05 * a @ a, False
    if name == "halfcheetah-dir":
        return task["direction"] * (qpos[0] - before[0]) / dt - 0.05 * a @ a, False
    if name == "ant-dir":
        dx, dy = task["direction"]
        v = ((qpos[0] - before[0]) / dt, (qpos[1] - before[1]) / dt)
        return dx * v[0] + dy * v[1] - 0.5 * a @ a - 0.0005 * contact + 1.0, not 0.2 <= qpos[2] <= 1.0
    if name == "ant-goal":
        gx, gy = task["goal"]
        return -abs(qpos[0] - gx) - abs(qpos[1] - gy) - 0.1 * a @ a - 0.0005 * contact, False
    reward = (qpos[0] - before[0]) / dt + 1.0 - 0.001 * a @ a
    z, angle = qpos[1], qpos[2]
    if name == "walker2d-params":
        return reward, not (0.8 < z < 2.0 and -1.0 < angle < 1.0)
    rest = list(qpos[2:]) + list(qvel)
    return reward, not (0.7 < z and -0.2 < angle < 0.2 and all(-100 < x < 100 for x in rest))


@pytest.mark.parametrize("name", sorted(MUJOCO))
def test_rewards_and_terminations_match_an_independent_recomputation(name):
    family = MUJOCO[name]
    tasks = family.sample_tasks(2, np.random.default_rng(3))
    env = family.make_vec_env(tasks, 2)
    assert env.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    np.testing.assert_array_equal(env.task_ids, [0, 0, 1, 1])
    assert len(env.models) == 2 and len({id(d) for d in env.datas}) == 4
    dt = env.models[0].opt.timestep * family.robot.frame_skip
    rng = np.random.default_rng(4)
    obs, _ = env.reset(seed=5)
    assert obs.shape == (4, env.single_observation_space.shape[0]) and obs.dtype == np.float64
    done = np.zeros(4, dtype=bool)
    ended, contact_seen = 0, False
    for t in range(family.HORIZON):
        before = [d.qpos.copy() for d in env.datas]
        frozen = [(d.qpos.copy(), o.copy()) for d, o in zip(env.datas, obs)]
        actions = 1.5 * rng.standard_normal((4, env.single_action_space.shape[0]))  # often beyond the limits
        obs, rewards, terminated, truncated, _ = env.step(actions)
        for i, data in enumerate(env.datas):
            if done[i]:  # a terminated slot is frozen and earns 0
                assert terminated[i] and rewards[i] == 0.0
                np.testing.assert_array_equal(data.qpos, frozen[i][0])
                np.testing.assert_array_equal(obs[i], frozen[i][1])
                continue
            reward, term = expected_step(name, family, tasks[i // 2], dt, before[i], data, actions[i])
            assert rewards[i] == pytest.approx(reward, rel=1e-9, abs=1e-9), (t, i)
            assert terminated[i] == term, (t, i)
            contact_seen |= bool(np.abs(data.cfrc_ext[1:]).max() > 1e-3)
        ended += int((terminated & ~done).sum())
        done = terminated.copy()
        if done.all():
            break
    assert truncated.all() == (t == family.HORIZON - 1)
    if name.startswith("ant"):
        assert contact_seen  # mj_rnePostConstraint ran: the feet feel the floor
    if name in ("walker2d-params", "hopper-params"):
        assert ended > 0  # random actions topple the robots: terminations were checked too


@pytest.mark.parametrize("name", ["ant-dir", "walker2d-params", "hopper-params"])
def test_healthy_conditions_equal_gymnasium_v5_around_their_thresholds(name):
    family = MUJOCO[name]
    theirs = gymnasium_env(family.robot.xml)
    model = family.robot.model
    z_index, angle_index = (2, 3) if name == "ant-dir" else (1, 2)  # Ant: torso z; angle = a quaternion entry
    rng = np.random.default_rng(0)
    cases = 0
    for z in (0.15, 0.19, 0.21, 0.69, 0.71, 0.79, 0.81, 0.99, 1.01, 1.99, 2.01):
        for angle in (-1.1, -0.9, -0.21, -0.19, 0.0, 0.19, 0.21, 0.9, 1.1):
            qpos = model.qpos0 + 0.01 * rng.standard_normal(model.nq)
            qpos[z_index] = z
            if name != "ant-dir":
                qpos[angle_index] = angle
            qvel = rng.standard_normal(model.nv) * (150 if angle == 0.0 and z == 0.99 else 1)  # Hopper: |qvel| < 100
            theirs.set_state(qpos, qvel)
            state = common.State(qpos[None], qvel[None], np.zeros((1, model.nbody, 6)))
            features = family.task_features(family.default_task())[None]
            _, healthy = family.rewards(state, state, np.zeros((1, model.nu)), features, family.dt)
            assert healthy[0] == theirs.is_healthy, (z, angle)
            cases += 1
    assert cases == 99


@pytest.mark.parametrize("name", sorted(MUJOCO))
def test_registered_env_passes_the_gymnasium_checker_and_exposes_task_model_data_dt(name):
    family = MUJOCO[name]
    env = gym.make(family.ENV_ID)
    assert env.spec.max_episode_steps == family.HORIZON
    assert env.unwrapped.task == family.sample_tasks(1, np.random.default_rng(0))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*infinity")  # unbounded observations, as gymnasium's v5 envs
        check_env(env.unwrapped)
    unwrapped = env.unwrapped
    assert isinstance(unwrapped.model, mujoco.MjModel) and isinstance(unwrapped.data, mujoco.MjData)
    assert unwrapped.dt == unwrapped.model.opt.timestep * family.robot.frame_skip
    other = family.sample_tasks(2, np.random.default_rng(1))[1]
    unwrapped.set_task(other)
    assert unwrapped.task == family.check_task(other)
    np.testing.assert_array_equal(unwrapped._vec._features[0], family.task_features(other))
    assert gym.make(family.ENV_ID, task=other).unwrapped.task == family.check_task(other)
    # the single env is a one-slot vector env: same seed, same episode
    single = gym.make(family.ENV_ID, task=other)
    obs, _ = single.reset(seed=3)
    obs2, _ = single.reset(seed=3)
    np.testing.assert_array_equal(obs, obs2)
    action = np.full(single.action_space.shape, 0.3, dtype=np.float32)
    _, reward, _, truncated, _ = single.step(action)
    assert isinstance(reward, float) and not truncated


def test_sampled_tasks_follow_their_distributions_and_are_json_friendly():
    rng = np.random.default_rng(0)
    velocities = np.array([t["velocity"] for t in half_cheetah.VEL.sample_tasks(2000, rng)])
    assert 0 <= velocities.min() < 0.01 and 1.99 < velocities.max() <= 2
    assert abs(velocities.mean() - 1.0) < 0.05
    for n in (1, 7, 40):
        directions = [t["direction"] for t in half_cheetah.DIR.sample_tasks(n, rng)]
        assert set(directions) <= {-1, 1} and abs(sum(directions)) <= n % 2  # both directions equally often
    assert {half_cheetah.DIR.sample_tasks(1, np.random.default_rng(s))[0]["direction"] for s in range(20)} == {-1, 1}
    units = np.array([t["direction"] for t in ant.DIR.sample_tasks(4000, rng)])
    np.testing.assert_allclose(np.linalg.norm(units, axis=1), 1.0, atol=1e-12)
    angles = np.arctan2(units[:, 1], units[:, 0])
    assert np.histogram(angles, bins=8, range=(-math.pi, math.pi))[0].min() > 4000 / 8 * 0.85  # uniform angle
    goals = np.array([t["goal"] for t in ant.GOAL.sample_tasks(4000, rng)])
    radii = np.linalg.norm(goals, axis=1)
    assert radii.max() <= 3 and radii.max() > 2.95
    assert abs((radii < 1.5).mean() - 0.25) < 0.03  # uniform on the disc: P(r < R/2) = 1/4
    for family in MUJOCO.values():
        tasks = family.sample_tasks(3, np.random.default_rng(1))
        assert json.loads(json.dumps(tasks)) == tasks
        assert tasks == family.sample_tasks(3, np.random.default_rng(1))
        assert [family.check_task(t) for t in tasks] == tasks


def test_task_features_are_what_an_oracle_observes():
    assert half_cheetah.VEL.task_features({"velocity": 1.25}).tolist() == [1.25]
    assert half_cheetah.DIR.task_features({"direction": -1}).tolist() == [-1.0]
    assert ant.DIR.task_features({"direction": [0.6, 0.8]}).tolist() == [0.6, 0.8]
    assert ant.GOAL.task_features({"goal": [1.0, -2.0]}).tolist() == [1.0, -2.0]
    task = random_params.HOPPER_PARAMS.sample_tasks(1, np.random.default_rng(0))[0]
    features = random_params.HOPPER_PARAMS.task_features(task)
    expected = np.concatenate([np.log(np.asarray(task[k])).ravel() for k in random_params.BASES])
    np.testing.assert_array_equal(features, expected)
    model = random_params.HOPPER_PARAMS.robot.model
    assert features.shape == (model.nbody + 3 * model.nbody + model.nv + 3 * model.ngeom,)


@pytest.mark.parametrize("family", MUJOCO.values(), ids=lambda f: f.name)
def test_the_oracle_view_appends_the_exact_task_features_in_the_familys_precision(family):
    tasks = family.sample_tasks(2, np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium warns when a Box loses precision
        env = OracleVecEnv(family.make_vec_env(tasks, 2), family.task_features)
        observation, _ = env.reset(seed=0)
    inner = family.make_vec_env(tasks, 2).reset(seed=0)[0]
    features = np.repeat([family.task_features(t) for t in tasks], 2, axis=0)
    np.testing.assert_array_equal(observation, np.concatenate([inner, features], axis=1))
    assert observation.dtype == env.single_observation_space.dtype == inner.dtype
    assert env.observation_space.contains(observation)


MODEL_ARRAYS = ("body_mass", "body_inertia", "dof_damping", "geom_friction", "body_subtreemass", "dof_invweight0",
                "body_invweight0", "actuator_acc0")


@pytest.mark.parametrize("family", [random_params.WALKER_PARAMS, random_params.HOPPER_PARAMS], ids=lambda f: f.name)
def test_random_params_multipliers_stay_in_range_and_never_compound(family):
    defaults = family.robot.model
    saved = {name: getattr(defaults, name).copy() for name in MODEL_ARRAYS}
    tasks = family.sample_tasks(60, np.random.default_rng(0))
    for name, base in random_params.BASES.items():
        exponents = np.concatenate([np.log(np.asarray(t[name])).ravel() for t in tasks]) / math.log(base)
        assert exponents.min() >= -3 and exponents.max() <= 3
        assert exponents.min() < -2.9 and exponents.max() > 2.9  # u ~ U(-3, 3) fills the range
    env = gym.make(family.ENV_ID, task=tasks[0]).unwrapped
    first = {name: getattr(env.model, name).copy() for name in MODEL_ARRAYS}
    for name in random_params.BASES:
        np.testing.assert_array_equal(first[name], getattr(defaults, name) * np.asarray(tasks[0][name]))
    assert env.model.body_subtreemass[0] == pytest.approx(env.model.body_mass.sum(), rel=1e-12)  # mj_setConst ran
    for task in tasks[1:4]:
        env.set_task(task)
    env.set_task(tasks[0])  # back to the first task: the same model, not a product of four tasks
    for name in MODEL_ARRAYS:
        np.testing.assert_array_equal(getattr(env.model, name), first[name], err_msg=name)
    vec = family.make_vec_env(tasks[:3], 1)
    for name in random_params.BASES:
        expected = getattr(defaults, name) * np.asarray(tasks[2][name])
        np.testing.assert_array_equal(getattr(vec.models[2], name), expected)
    for name in MODEL_ARRAYS:  # the pristine defaults never changed
        np.testing.assert_array_equal(getattr(defaults, name), saved[name], err_msg=name)
    # two tasks drawn with the same seed give identical models
    twin = family.make_vec_env(family.sample_tasks(60, np.random.default_rng(0))[:3], 1)
    for name in MODEL_ARRAYS:
        np.testing.assert_array_equal(getattr(twin.models[2], name), getattr(vec.models[2], name), err_msg=name)
    assert twin.models[2].stat.meaninertia == vec.models[2].stat.meaninertia
    assert vec.models[0].stat.meaninertia != vec.models[1].stat.meaninertia  # refreshed per task


def test_a_share_of_the_tasks_with_first_slot_reproduces_those_slots_of_the_full_env():
    family = half_cheetah.VEL
    tasks = family.sample_tasks(3, np.random.default_rng(0))
    full, share = family.make_vec_env(tasks, 2), family.make_vec_env(tasks[1:], 2)
    share.first_slot = 2
    obs_full, _ = full.reset(seed=9)
    obs_share, _ = share.reset(seed=9)
    np.testing.assert_array_equal(obs_full[2:], obs_share)
    assert len({tuple(o) for o in obs_full}) == 6  # every slot starts from its own noise
    actions = np.random.default_rng(1).uniform(-1, 1, (6, 6))
    np.testing.assert_array_equal(full.step(actions)[0][2:], share.step(actions[2:])[0])
    assert not np.array_equal(full.reset(seed=10)[0], obs_full)


def test_a_diverging_simulation_names_slot_and_task_and_stays_off_the_console(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    family = random_params.HOPPER_PARAMS
    env = family.make_vec_env(family.sample_tasks(2, np.random.default_rng(0)), 2)
    env.models[1].actuator_gear[:, 0] *= 1e12  # task 1's motors now produce absurd torques
    env.first_slot = 4  # as a worker holding tasks 2 and 3 of a larger batch
    env.reset(seed=0)
    capfd.readouterr()
    message = (r"slot 6 \(task 3: \{'body_mass': ..., 'body_inertia': ..., 'dof_damping': ..., "
               r"'geom_friction': ...\}\) diverged at step 0: MuJoCo says 'Nan, Inf or huge value in QACC")
    with pytest.raises(SimulationDiverged, match=message) as info:
        env.step(np.ones((4, 3)))
    assert "\n" not in str(info.value)
    assert capfd.readouterr() == ("", "") and not os.listdir(tmp_path)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.ones((4, 3)))
    env.models[1].actuator_gear[:, 0] /= 1e12
    env.reset(seed=0)
    env.step(np.ones((4, 3)))  # healthy again after reset


def valid_params_task():
    return random_params.WALKER_PARAMS.sample_tasks(1, np.random.default_rng(0))[0]


def params_task(**changes):
    task = valid_params_task()
    task.update(changes)
    return task


BAD_TASKS = [
    (half_cheetah.VEL, {"velocity": 2.5}, r"task\['velocity'\] must be a number in \[0.0, 2.0\], got 2.5"),
    (half_cheetah.VEL, {"velocity": float("nan")}, "must be a number in"),
    (half_cheetah.VEL, {"velocity": "fast"}, "must be a number in"),
    (half_cheetah.VEL, {"goal": [1, 2]}, r"a HalfCheetahVel task is a dict \{'velocity': v\}.*got \['goal'\]"),
    (half_cheetah.DIR, {"direction": 0}, r"task\['direction'\] must be -1 or \+1, got 0"),
    (half_cheetah.DIR, {"direction": True}, "must be -1 or"),
    (half_cheetah.DIR, [1], "got list"),
    (ant.DIR, {"direction": [1.0, 1.0]}, r"must be a unit vector.*norm 1.41421"),
    (ant.DIR, {"direction": [1.0]}, r"task\['direction'\] must be 2 finite numbers"),
    (ant.DIR, {"direction": [1.0, 0.0], "goal": [0, 0]}, r"got \['direction', 'goal'\]"),
    (ant.GOAL, {"goal": [3.0, 0.5]}, r"task\['goal'\] must lie within 3.0 of the origin"),
    (ant.GOAL, {"goal": [0.0, float("inf")]}, "2 finite numbers"),
    (random_params.WALKER_PARAMS, params_task(body_mass=[1.0] * 3),
     r"task\['body_mass'\] must be \(8,\) multipliers, got shape \(3,\)"),
    (random_params.WALKER_PARAMS, params_task(dof_damping=[4.0] * 9),
     r"task\['dof_damping'\] multipliers must lie in \[1.3\^-3, 1.3\^3\].*got 4.0"),
    (random_params.WALKER_PARAMS, params_task(geom_friction=(-np.ones((8, 3))).tolist()), "must lie in"),
    (random_params.WALKER_PARAMS, {k: v for k, v in valid_params_task().items() if k != "body_mass"},
     r"a Walker2dRandParams task is a dict of multipliers"),
]


@pytest.mark.parametrize("family, task, match", BAD_TASKS)
def test_bad_task_gets_one_line_error(family, task, match, one_line_errors):
    one_line_errors([(make, match) for make in (lambda: gym.make(family.ENV_ID, task=task),
                                                lambda: family.make_vec_env([task], 2),
                                                lambda: family.task_features(task))])


def test_bad_actions_and_arguments_get_one_line_errors(one_line_errors):
    family = ant.DIR
    env = gym.make(family.ENV_ID).unwrapped
    env.reset(seed=0)
    venv = family.make_vec_env(family.sample_tasks(2, np.random.default_rng(0)), 2)
    venv.reset(seed=0)
    nan_in_slot_2 = np.zeros((4, 8))
    nan_in_slot_2[2, 5] = np.nan
    cases = [
        (lambda: env.step(np.zeros(3)), r"actions must have shape \(8,\), got \(3,\)"),
        (lambda: env.step(np.full(8, np.inf)), "actions must be finite"),
        (lambda: env.step("left"), "actions must be numbers"),
        (lambda: venv.step(np.zeros((3, 8))), r"actions must have shape \(4, 8\), got \(3, 8\)"),
        (lambda: venv.step(nan_in_slot_2),
         r"actions must be finite, got \[0.0, 0.0, 0.0, 0.0, 0.0, nan, 0.0, 0.0\] in slot 2"),
        (lambda: family.make_vec_env([], 2), "tasks is empty"),
        (lambda: family.make_vec_env([{"direction": [1, 0]}], 0), "episodes_per_task must be a positive integer"),
        (lambda: family.sample_tasks(0, np.random.default_rng(0)), "positive integer"),
        (lambda: common.MujocoTaskEnv("ant-dir", render_mode="human"), "render_mode must be None or 'rgb_array'"),
        (lambda: common.MujocoTaskEnv("ant-walk"), r"unknown MuJoCo task family 'ant-walk'; choose one of \['ant-dir'"),
    ]
    one_line_errors(cases)
    with pytest.raises(RuntimeError, match="call reset"):
        family.make_vec_env([{"direction": [1, 0]}], 1).step(np.zeros((1, 8)))


def test_the_vector_env_truncates_at_the_horizon_and_then_asks_for_reset():
    family = half_cheetah.DIR
    env = family.make_vec_env([{"direction": 1}, {"direction": -1}], 1)
    env.reset(seed=0)
    for t in range(family.HORIZON):
        _, _, terminated, truncated, _ = env.step(np.zeros((2, 6)))
        assert not terminated.any() and truncated.all() == (t == family.HORIZON - 1)
    with pytest.raises(RuntimeError, match="H = 100"):
        env.step(np.zeros((2, 6)))
    env.reset()
    env.step(np.zeros((2, 6)))


def test_frames_render_headless_with_a_tracking_camera():
    env = gym.make(half_cheetah.VEL.ENV_ID, render_mode="rgb_array", width=96, height=64)
    env.reset(seed=0)
    first = env.render()
    assert first.shape == (64, 96, 3) and first.dtype == np.uint8 and first.std() > 10
    for _ in range(20):
        env.step(np.ones(6, dtype=np.float32))
    later = env.render()
    assert not np.array_equal(first, later)  # the robot moved
    env.close()
    assert copy.deepcopy(env.unwrapped.task) == env.unwrapped.task
