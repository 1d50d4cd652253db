"""metarl_lite.rl.training and the CLI on RL tasks: configs, the oracle's view, run folders, resume after a
kill, a non-finite step, and the evaluation protocol."""

import json
import math

import imageio.v3 as iio

import numpy as np
import pytest
import torch

from metarl_lite import checkpoint, configs, runs
from metarl_lite.cli import main
from metarl_lite.rl import meta_rl, policies, training
from metarl_lite.tasks import navigation as nav
from metarl_lite.tasks.oracle import OracleVecEnv

TIMING = {"wall_seconds", "sample_seconds", "adapt_seconds", "outer_seconds"}


def small(algo, **overrides):
    """A seconds-sized nav2d run of ``algo``."""
    return configs.make_config(algo, "nav2d", "quick", **{"meta_batch": 2, "episodes_per_task": 4, "hidden": (8,),
                                                         "eval_tasks": 3, **overrides})


def without_timing(path):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in runs.read_metrics(path)]


def test_rl_configs_round_trip_and_follow_the_paper():
    for task in configs.RL_TASKS:
        for algo in configs.ALGOS:
            for name in configs.CONFIG_NAMES:
                config = configs.make_config(algo, task, name)
                assert configs.from_dict(json.loads(json.dumps(configs.to_dict(config)))) == config
                assert (config.iterations == 0) == (algo == "random")
    maml = configs.make_config("maml", "nav2d", "paper")
    assert (maml.inner_lr, maml.inner_steps, maml.episodes_per_task, maml.meta_batch, maml.horizon, maml.max_kl,
            maml.hidden, maml.iterations) == (0.5, 1, 20, 20, nav.HORIZON, 0.01, (64, 64), 200)
    assert (maml.eval_tasks, maml.eval_episodes) == (40, 40)
    assert configs.make_config("fomaml", "nav2d", "paper").first_order and not maml.first_order
    for algo in configs.JOINT:  # no inner step, twice the tasks: MAML's budget of environment steps
        joint = configs.make_config(algo, "nav2d", "paper")
        assert joint.inner_steps == 0
        assert joint.meta_batch * joint.episodes_per_task == (maml.inner_steps + 1) * maml.meta_batch * maml.episodes_per_task


def test_bad_rl_config_input_gets_one_line_errors(capsys):
    with pytest.raises(ValueError, match="--shots applies to regression tasks only"):
        configs.make_config("maml", "nav2d", "quick", shots=5)
    with pytest.raises(ValueError, match="meta_batch must be an integer >= 1"):
        configs.make_config("maml", "nav2d", "quick", meta_batch=0)
    assert main(["train", "--algo", "maml", "--task", "nav2d", "--shots", "5", "--out", "/nonexistent/x"]) == 2
    assert "--shots applies to regression tasks only" in capsys.readouterr().err
    for task in ("nav2d", "sinusoid"):
        assert main(["train", "--algo", "random", "--task", task, "--iterations", "3", "--out", "/nonexistent/x"]) == 2
        assert "random saves an untrained initialization: it takes no iterations (got 3)" in capsys.readouterr().err


def test_the_oracle_sees_the_goal_and_nothing_else_changes():
    tasks = nav.sample_tasks(3, np.random.default_rng(0))
    plain, oracle = nav.make_vec_env(tasks, 2), OracleVecEnv(nav.make_vec_env(tasks, 2), nav.task_features)
    assert oracle.single_observation_space.shape == (4,) and oracle.tasks == plain.tasks
    (obs_p, _), (obs_o, _) = plain.reset(seed=1), oracle.reset(seed=1)
    goals = np.repeat([t["goal"] for t in tasks], 2, axis=0)
    actions = np.random.default_rng(1).uniform(-0.1, 0.1, (6, 2))
    for t in range(3):
        np.testing.assert_array_equal(obs_o, np.concatenate([obs_p, goals], axis=1).astype(np.float32))
        (obs_p, *rest_p), (obs_o, *rest_o) = plain.step(actions), oracle.step(actions)
        for a, b in zip(rest_p[:3], rest_o[:3]):
            np.testing.assert_array_equal(a, b)
    learner = training.make_learner(small("oracle"))
    assert learner.theta["0.weight"].shape[1] == 4  # the policy reads [position, goal]


@pytest.mark.parametrize("algo", ["maml", "fomaml", "reptile", "pmaml", "promp", "pretrain", "oracle"])
def test_every_algorithm_trains_logs_and_resumes_exactly(algo, tmp_path, monkeypatch):
    config = small(algo, iterations=4, checkpoint_every=2)
    training.train(config, tmp_path / "whole", progress=False)
    rows = without_timing(tmp_path / "whole")
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(float(r["post_return"])) for r in rows)

    # Interrupted during iteration 4: rows 1-3 are written, the last checkpoint is iteration 2's.
    real_step, calls = training.LEARNERS[algo].step, []

    def interrupted(self, env, seed):
        calls.append(seed)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_step(self, env, seed)

    monkeypatch.setattr(training.LEARNERS[algo], "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, tmp_path / "split", progress=False)
    assert len(runs.read_metrics(tmp_path / "split")) == 3
    monkeypatch.setattr(training.LEARNERS[algo], "step", real_step)
    training.train(config, tmp_path / "split", resume=True, progress=False)
    assert without_timing(tmp_path / "split") == rows
    whole, split = (torch.load(p / "checkpoint.pt", weights_only=True)["learner"] for p in (tmp_path / "whole",
                                                                                            tmp_path / "split"))
    for part, values in whole.items():
        if part != "optimizer":
            for k, v in values.items():
                torch.testing.assert_close(split[part][k], v, rtol=0, atol=0)


def test_a_non_finite_step_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    config = small("reptile", iterations=4, checkpoint_every=1)
    real_step = meta_rl.reptile_rl_step
    calls = []

    def fails_at_the_third(theta, env, **kwargs):
        calls.append(1)
        new, metrics = real_step(theta, env, **kwargs)
        if len(calls) == 3:
            new = {k: torch.full_like(v, float("nan")) for k, v in new.items()}
        return new, metrics

    monkeypatch.setattr(meta_rl, "reptile_rl_step", fails_at_the_third)
    with pytest.raises(FloatingPointError, match="after iteration 3 is not finite"):
        training.train(config, tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["iteration"] == 2
    assert all(torch.isfinite(v).all() for v in state["learner"]["theta"].values())
    assert [int(r["iteration"]) for r in runs.read_metrics(tmp_path / "run")] == [1, 2]


def test_killed_rl_training_process_resumes_to_the_uninterrupted_metrics(kill_and_resume):
    """SIGKILL a real `metarl-lite train --task nav2d` after its first checkpoint, then --resume it."""
    whole, split = kill_and_resume(["train", "--algo", "reptile", "--task", "nav2d", "--config", "quick"])
    assert without_timing(split) == without_timing(whole)
    assert len(without_timing(split)) == 20


def test_evaluate_is_the_protocol_on_the_held_out_tasks(tmp_path):
    config = small("maml", iterations=1)
    training.train(config, tmp_path / "maml", progress=False)
    learner = training.load_learner(tmp_path / "maml")
    result = training.evaluate(learner, adapt_steps=2)
    assert (result["metric"], result["tasks"], result["episodes_per_task"]) == ("return", 3, config.eval_episodes)
    assert (result["adapt_lr"], result["later_adapt_lr"]) == (config.inner_lr, config.inner_lr / 2)
    tasks = training.held_out_tasks(config, 3, training.TEST_SEED)
    direct = meta_rl.evaluate(learner.theta, tasks, make_env=nav.make_vec_env, adapt_steps=2, adapt_lr=config.inner_lr,
                              later_adapt_lr=config.inner_lr / 2, episodes_per_task=config.eval_episodes,
                              horizon=nav.HORIZON, seed=training.TEST_SEED)[:, 0]
    np.testing.assert_allclose(result["after_steps"], direct.mean(0).numpy(), atol=1e-3)
    np.testing.assert_allclose(result["ci95"], 1.96 * direct.std(0).numpy() / np.sqrt(3), atol=1e-3)
    assert result["seconds_per_iteration"] > 0


def test_pretrain_and_random_adapt_with_the_best_step_size_of_the_grid(tmp_path):
    config = small("random", iterations=0)
    training.train(config, tmp_path / "random", progress=False)
    result = training.evaluate(training.load_learner(tmp_path / "random"), adapt_steps=1)
    grid = {float(k): v for k, v in result["adapt_lr_grid"].items()}
    assert set(grid) == set(training.LR_GRID) and result["adapt_lr"] == max(grid, key=grid.get)


def test_probabilistic_maml_reports_the_spread_of_its_sampled_initializations(tmp_path):
    training.train(small("pmaml", iterations=1, eval_samples=3), tmp_path / "pmaml", progress=False)
    result = training.evaluate(training.load_learner(tmp_path / "pmaml"), adapt_steps=1)
    assert result["samples"] == 3 and len(result["spread"]) == 2 and all(s > 0 for s in result["spread"])


def test_cli_trains_evaluates_and_plots_an_rl_run(tmp_path, capsys):
    out = tmp_path / "oracle"
    argv = ["train", "--algo", "oracle", "--task", "nav2d", "--config", "quick", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert main(["evaluate", str(out), "--adapt-steps", "1", "--tasks", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["metric"] == "return" and result["tasks"] == 2 and len(result["after_steps"]) == 2
    assert result["adapt_lr"] == 0.0  # the oracle is told its task: nothing to adapt
    assert json.loads((out / "evaluation.json").read_text()) == result
    assert main(["plot", str(out), "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert main(["evaluate", str(out), "--shots", "5"]) == 2
    assert "--shots applies to regression runs only" in capsys.readouterr().err
    main(["train", "--algo", "random", "--task", "sinusoid", "--out", str(tmp_path / "sin"), "--quiet"])
    assert main(["plot", str(out), str(tmp_path / "sin"), "--out", str(tmp_path / "q.png")]) == 2
    assert "not both in one figure" in capsys.readouterr().err


def test_cli_sets_the_meta_batch_and_the_episodes_and_resumes_only_with_the_same(tmp_path, capsys):
    out = tmp_path / "maml"
    sizes = ["--meta-batch", "3", "--episodes-per-task", "2"]
    train = lambda iterations, *flags: main(["train", "--algo", "maml", "--task", "nav2d", "--config", "quick",  # noqa: E731
                                             "--iterations", str(iterations), "--out", str(out), "--quiet", *flags])
    assert train(1, *sizes) == 0
    saved = runs.read_config(out)
    assert (saved["meta_batch"], saved["episodes_per_task"]) == (3, 2)
    assert train(2, *sizes, "--resume") == 0  # extended with the options it started with
    assert [int(r["iteration"]) for r in runs.read_metrics(out)] == [1, 2]
    capsys.readouterr()
    assert train(3, "--resume") == 2  # without them it would be another run
    assert "resume it with the options that started it" in capsys.readouterr().err
    cases = [(["--task", "nav2d", "--meta-batch", "0"], "--meta-batch must be >= 1"),
             (["--task", "nav2d", "--episodes-per-task", "0"], "--episodes-per-task must be >= 1"),
             (["--task", "sinusoid", "--episodes-per-task", "2"], "--episodes-per-task applies to RL tasks only")]
    for flags, message in cases:
        assert main(["train", "--algo", "maml", *flags, "--out", str(tmp_path / "new")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_metrics_leave_out_a_last_line_still_being_written_and_resume_drops_it(tmp_path):
    training.train(small("maml", iterations=2, checkpoint_every=1), tmp_path / "run", progress=False)
    rows = runs.read_metrics(tmp_path / "run")
    with (tmp_path / "run" / "metrics.csv").open("a") as f:
        f.write("1")  # a row cut off after its first digit (of iteration 13, say)
    assert len(rows) == 2 and runs.read_metrics(tmp_path / "run") == rows
    assert runs.read_column(tmp_path / "run", "post_return").shape == (2,)
    training.train(small("maml", iterations=3, checkpoint_every=1), tmp_path / "run", resume=True, progress=False)
    assert [int(r["iteration"]) for r in runs.read_metrics(tmp_path / "run")] == [1, 2, 3]


def test_read_column_gives_a_metric_per_iteration_and_names_the_columns_it_has(tmp_path):
    training.train(small("maml", iterations=2), tmp_path / "run", progress=False)
    rows = runs.read_metrics(tmp_path / "run")
    post = runs.read_column(tmp_path / "run", "post_return")
    assert post.dtype == np.float64 and post.tolist() == [float(row["post_return"]) for row in rows] and len(post) == 2
    with pytest.raises(ValueError, match="has no column 'post'; its columns: iteration, wall_seconds, pre_return"):
        runs.read_column(tmp_path / "run", "post")


def test_cli_sets_the_policys_initial_std(tmp_path, capsys):
    out = tmp_path / "oracle"
    assert main(["train", "--algo", "oracle", "--task", "nav2d", "--iterations", "1", "--policy-std", "0.35",
                 "--out", str(out), "--quiet"]) == 0
    assert runs.read_config(out)["policy_std"] == 0.35
    theta = training.make_learner(configs.from_dict(runs.read_config(out))).theta
    torch.testing.assert_close(theta[policies.LOG_STD], torch.full((2,), math.log(0.35)))
    assert training.make_learner(small("maml")).theta[policies.LOG_STD].eq(0).all()  # sigma = 1 by default
    cases = [(["--task", "nav2d", "--policy-std", "0"], "--policy-std) must be a positive finite number, got 0.0"),
             (["--task", "nav2d", "--policy-std", "nan"], "must be a positive finite number, got nan"),
             (["--task", "sinusoid", "--policy-std", "0.5"], "--policy-std applies to RL tasks only")]
    for flags, message in cases:
        assert main(["train", "--algo", "maml", *flags, "--out", str(tmp_path / "new")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    with pytest.raises(ValueError, match="must be a positive finite number, got '0.35'"):
        configs.make_config("maml", "nav2d", policy_std="0.35")


def test_cli_surrogate_test_keeps_only_steps_that_raise_the_objective(tmp_path):
    out = tmp_path / "pmaml"
    assert main(["train", "--algo", "pmaml", "--task", "nav2d", "--iterations", "3", "--max-kl", "0.01",
                 "--surrogate-test", "--out", str(out), "--quiet"]) == 0
    assert runs.read_config(out)["surrogate_test"] is True
    objective, after, backtracks = (runs.read_column(out, column)
                                    for column in ("objective", "objective_after", "backtracks"))
    kept = backtracks < 15  # an undone step leaves the objective where it was
    assert len(objective) == 3 and kept.any() and (after[kept] > objective[kept]).all()
    assert np.allclose(after[~kept], objective[~kept])


def test_cli_sets_prior_std_and_max_kl(tmp_path, capsys):
    out = tmp_path / "pmaml"
    assert main(["train", "--algo", "pmaml", "--task", "nav2d", "--iterations", "2", "--prior-std", "0.01",
                 "--max-kl", "1e-5", "--out", str(out), "--quiet"]) == 0
    assert runs.read_config(out)["prior_std"] == 0.01 and runs.read_config(out)["max_kl"] == 1e-5
    step_kl, backtracks = (runs.read_column(out, name) for name in ("step_kl", "backtracks"))
    assert len(step_kl) == 2 and (step_kl <= 1e-5).all() and (backtracks > 0).all()
    maml = tmp_path / "maml"  # for TRPO, --max-kl is delta
    assert main(["train", "--algo", "maml", "--task", "nav2d", "--iterations", "1", "--max-kl", "1e-4",
                 "--out", str(maml), "--quiet"]) == 0
    assert 0 < runs.read_column(maml, "kl")[0] <= 1e-4
    maml_learner = training.load_learner(maml)
    assert maml_learner.policy is maml_learner.theta
    learner = training.load_learner(out)
    dist = learner.dist
    assert learner.policy is dist.mu  # the policy before adaptation is the distribution's mean
    assert dist.prior_std == 0.01
    sigma = torch.cat([v.exp().reshape(-1) for v in dist.log_sigma.values()])
    assert sigma.min() > 0.009 and sigma.max() < 0.011  # started at 0.01, two Adam steps of at most 3e-3 on log sigma
    cases = [(["--algo", "pmaml", "--task", "nav2d", "--prior-std", "-1"],
              "prior_std (--prior-std) must be a positive finite number, got -1.0"),
             (["--algo", "maml", "--task", "nav2d", "--prior-std", "0.01"],
              "--prior-std applies to --algo pmaml on RL tasks only"),
             (["--algo", "pmaml", "--task", "sinusoid", "--prior-std", "0.01"],
              "--prior-std applies to --algo pmaml on RL tasks only"),
             (["--algo", "pmaml", "--task", "nav2d", "--max-kl", "0"],
              "max_kl (--max-kl) must be a positive finite number, got 0.0"),
             (["--algo", "reptile", "--task", "nav2d", "--max-kl", "0.01"],
              "--max-kl applies to RL tasks trained by TRPO or --algo pmaml only"),
             (["--algo", "pmaml", "--task", "nav2d", "--surrogate-test"],
              "--surrogate-test adds a test to the line search of --max-kl; set --max-kl too"),
             (["--algo", "maml", "--task", "nav2d", "--surrogate-test"],
              "--surrogate-test applies to --algo pmaml on RL tasks only; TRPO always tests its surrogate")]
    for flags, message in cases:
        assert main(["train", *flags, "--out", str(tmp_path / "new")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_cli_renders_a_run_folder_and_refuses_what_it_cannot_show(tmp_path, capsys, cli_error):
    run = tmp_path / "random"
    assert main(["train", "--algo", "random", "--task", "halfcheetah-dir", "--out", str(run), "--quiet"]) == 0
    assert main(["render", str(run), "--out", str(tmp_path / "cheetah.gif")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "cheetah.gif").stat().st_size > 10_000
    assert main(["render", str(run), "--adapt-steps", "1", "--out", str(tmp_path / "adapted.gif")]) == 0
    assert "before | after 1 steps" in capsys.readouterr().out
    frames = iio.imread(tmp_path / "adapted.gif")
    assert frames.shape[2] == 2 * iio.imread(tmp_path / "cheetah.gif").shape[2]  # before | after, side by side
    main(["train", "--algo", "random", "--task", "sinusoid", "--out", str(tmp_path / "sin"), "--quiet"])
    cases = [(["render", str(run), "--task", "ant-dir"], "was trained on halfcheetah-dir, not --task ant-dir"),
             (["render", str(tmp_path / "sin")], "render shows RL policies"),
             (["render"], "name the task with --task"),
             (["render", "--task", "halfcheetah-dir", "--adapt-steps", "1"], "give a run folder"),
             (["render", str(run), "--adapt-steps", "-1"], "--adapt-steps must be >= 0"),
             (["render", "--task", "nav2d"], "nav2d")]
    for argv, message in cases:
        assert message in cli_error([*argv, "--out", tmp_path / "x.gif"])
    assert not (tmp_path / "x.gif").exists()


def test_training_with_worker_processes_is_the_same_run(tmp_path, capsys):
    config = configs.make_config("maml", "halfcheetah-dir", "quick", iterations=2, meta_batch=2, episodes_per_task=2,
                                 hidden=(8,), horizon=10, eval_tasks=2)
    training.train(config, tmp_path / "one", progress=False)
    training.train(config, tmp_path / "two", progress=False, workers=2)
    assert without_timing(tmp_path / "two") == without_timing(tmp_path / "one")
    training.train(config, tmp_path / "threads", progress=False, workers=2, threads=2)  # agrees up to rounding
    for a, b in zip(without_timing(tmp_path / "threads"), without_timing(tmp_path / "one")):
        np.testing.assert_allclose([float(v) for v in a.values()], [float(v) for v in b.values()], rtol=1e-4, atol=1e-6)
    training.train(small("oracle"), tmp_path / "oracle_one", progress=False)  # the workers show the task too
    training.train(small("oracle"), tmp_path / "oracle_two", progress=False, workers=2)
    assert without_timing(tmp_path / "oracle_two") == without_timing(tmp_path / "oracle_one")
    assert main(["train", "--algo", "maml", "--task", "sinusoid", "--workers", "2", "--out", str(tmp_path / "s")]) == 2
    assert "--workers applies to RL tasks only" in capsys.readouterr().err
    assert main(["train", "--algo", "maml", "--task", "sinusoid", "--threads", "2", "--out", str(tmp_path / "s")]) == 2
    assert "--threads applies to RL tasks only" in capsys.readouterr().err
    assert main(["train", "--algo", "maml", "--task", "nav2d", "--threads", "0", "--out", str(tmp_path / "n")]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err and not (tmp_path / "n").exists()


def _mujoco_run(path, task="halfcheetah-dir", *extra):
    assert main(["train", "--algo", "random", "--task", task, "--out", str(path), "--quiet", *extra]) == 0


@pytest.mark.parametrize("fault, argv, message", [
    ("checkpoint of another task", ["evaluate", "{run}"], "belongs to another run (task 'halfcheetah-vel' -> "),
    ("checkpoint of another task", ["train", "--algo", "random", "--task", "halfcheetah-dir", "--out", "{run}",
                                    "--resume"], "belongs to another run"),
    ("checkpoint of another architecture", ["evaluate", "{run}"], "belongs to another run (hidden [64, 64] -> [8]"),
    ("checkpoint of another architecture", ["render", "{run}", "--out", "{run}/x.gif"], "belongs to another run"),
    ("truncated checkpoint", ["evaluate", "{run}"], "corrupt or truncated"),
    ("truncated checkpoint", ["train", "--algo", "random", "--task", "halfcheetah-dir", "--out", "{run}",
                              "--resume"], "corrupt or truncated"),
    ("nothing", ["train", "--algo", "maml", "--task", "halfcheetah-dir", "--out", "{run}"], "holds another run"),
    ("nothing", ["train", "--algo", "random", "--task", "halfcheetah-vel", "--out", "{run}"], "holds another run"),
])
def test_mujoco_run_faults_get_one_line_errors_and_nothing_is_overwritten(fault, argv, message, tmp_path,
                                                                          cli_error):
    run, other = tmp_path / "run", tmp_path / "other"
    _mujoco_run(run)
    if fault == "checkpoint of another task":
        _mujoco_run(other, "halfcheetah-vel")
        (run / "checkpoint.pt").write_bytes((other / "checkpoint.pt").read_bytes())
    elif fault == "checkpoint of another architecture":  # config.json says (8,), the checkpoint holds (64, 64)
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, "hidden": [8]}))
    elif fault == "truncated checkpoint":
        data = (run / "checkpoint.pt").read_bytes()
        (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert message in cli_error([a.format(run=run) for a in argv])
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_config_written_before_a_key_existed_resumes_with_that_keys_default(tmp_path):
    # config.json and checkpoint of a run trained before the line-search options existed: the defaults
    # reproduce it
    config = configs.make_config("maml", "nav2d", "paper")
    saved = configs.to_dict(config)
    for key in ("backtrack_ratio", "rescale_step"):
        del saved[key]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    checkpoint.save(tmp_path / "checkpoint.pt", {"config": saved, "iteration": 3})
    assert runs.RunFolder(tmp_path, configs.to_dict(config), resume=True).load_checkpoint()["iteration"] == 3
    other = configs.make_config("maml", "nav2d", "paper", backtrack_ratio=0.8, rescale_step=True)
    with pytest.raises(runs.RunFolderError, match=r"backtrack_ratio 0.5 -> 0.8, .*rescale_step False -> True"):
        runs.RunFolder(tmp_path, configs.to_dict(other), resume=True)


def test_a_run_extended_to_more_iterations_ends_with_the_longer_runs_metrics(tmp_path, cli_error):
    nav2d = ["--algo", "maml", "--task", "nav2d", "--quiet"]
    assert main(["train", *nav2d, "--iterations", "7", "--out", str(tmp_path / "whole")]) == 0
    run = tmp_path / "extended"
    assert main(["train", *nav2d, "--iterations", "5", "--out", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert "pass --resume to train it on to 7 iterations" in cli_error(
        ["train", *nav2d, "--iterations", "7", "--out", run])
    assert "holds another run (config differs: iterations 5 -> 4)" in cli_error(
        ["train", *nav2d, "--iterations", "4", "--out", run, "--resume"])
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # Killed after the extension wrote config.json and before its first checkpoint: the old checkpoint resumes.
    config = json.loads((run / "config.json").read_text())
    runs.write_json(run / "config.json", {**config, "iterations": 7})
    assert main(["train", *nav2d, "--iterations", "7", "--out", str(run), "--resume"]) == 0
    assert json.loads((run / "config.json").read_text())["iterations"] == 7
    assert without_timing(run) == without_timing(tmp_path / "whole")
    assert torch.load(run / "checkpoint.pt", weights_only=True)["config"]["iterations"] == 7


def test_an_annealed_reptile_run_cannot_be_extended(tmp_path, cli_error):
    # beta decays to 0 over the run's iterations: more iterations would be another schedule, not more of it
    reptile = ["train", "--algo", "reptile", "--task", "sinusoid", "--quiet", "--out", tmp_path]
    assert main([str(a) for a in reptile] + ["--iterations", "2"]) == 0
    assert "holds another run (config differs: iterations 2 -> 3)" in cli_error(reptile + ["--iterations", "3",
                                                                                          "--resume"])
