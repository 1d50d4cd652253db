"""metarl_lite.regression: training every algorithm, resuming, the evaluation protocol, learning."""

import pytest
import torch

from metarl_lite import configs, regression, runs
from metarl_lite.nn import mse_loss
from metarl_lite.checkpoint import CheckpointError


def tiny(algo, **overrides):
    """A seconds-sized config: 60 iterations, logged every 20, checkpointed every 40."""
    base = dict(iterations=60, log_every=20, checkpoint_every=40, eval_tasks=10, meta_batch=5, hidden=(16, 16))
    if algo == "random":
        base["iterations"] = 0
    return configs.make_config(algo, "sinusoid", "quick", **{**base, **overrides})


def metrics_without_time(path):
    return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in runs.read_metrics(path)]


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("algo", ["maml", "fomaml", "reptile", "pmaml", "pretrain"])
def test_interrupted_then_resumed_run_matches_uninterrupted(algo, tmp_path, monkeypatch):
    config = tiny(algo)
    regression.train(config, tmp_path / "whole", progress=False)

    original_step = regression.LEARNERS[algo].step

    def step_then_die(self, tasks, iteration):
        if iteration == 50:  # after the checkpoint at 40 and the metrics row at 40
            raise Interrupt
        return original_step(self, tasks, iteration)

    monkeypatch.setattr(regression.LEARNERS[algo], "step", step_then_die)
    with pytest.raises(Interrupt):
        regression.train(config, tmp_path / "split", progress=False)
    monkeypatch.setattr(regression.LEARNERS[algo], "step", original_step)
    assert [r["iteration"] for r in runs.read_metrics(tmp_path / "split")] == ["20", "40"]

    regression.train(config, tmp_path / "split", resume=True, progress=False)
    assert metrics_without_time(tmp_path / "split") == metrics_without_time(tmp_path / "whole")
    whole = regression.load_learner(tmp_path / "whole").state_dict()
    split = regression.load_learner(tmp_path / "split").state_dict()
    flat = lambda d: torch.cat([v.flatten() for v in d.values()])  # noqa: E731
    key = "model" if algo == "pmaml" else "params"
    assert torch.equal(flat(whole[key]), flat(split[key]))


def test_run_folder_holding_another_run_is_never_overwritten(tmp_path):
    regression.train(tiny("pretrain"), tmp_path, progress=False)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(runs.RunFolderError, match=r"holds another run \(config differs: shots 5 -> 10\)"):
        regression.train(tiny("pretrain", shots=10), tmp_path, progress=False)
    with pytest.raises(runs.RunFolderError, match="pass --resume"):
        regression.train(tiny("pretrain"), tmp_path, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_non_empty_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(runs.RunFolderError, match="holds no metarl-lite run"):
        regression.train(tiny("pretrain"), tmp_path, progress=False)


def test_checkpoint_of_another_run_is_refused(tmp_path):
    regression.train(tiny("pretrain"), tmp_path / "a", progress=False)
    regression.train(tiny("pretrain", seed=1), tmp_path / "b", progress=False)
    (tmp_path / "a" / "checkpoint.pt").write_bytes((tmp_path / "b" / "checkpoint.pt").read_bytes())
    with pytest.raises(CheckpointError, match="belongs to another run"):
        regression.load_learner(tmp_path / "a")


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    config = tiny("maml", outer_lr=1e9, iterations=200, checkpoint_every=1)
    with pytest.raises(FloatingPointError, match="not finite"):
        regression.train(config, tmp_path, progress=False)
    learner = regression.load_learner(tmp_path)
    assert all(torch.isfinite(v).all() for v in learner.params.values())


def test_evaluation_protocol_reports_mse_after_each_step(tmp_path):
    regression.train(tiny("random"), tmp_path, progress=False)
    result = regression.evaluate(regression.load_learner(tmp_path), adapt_steps=3, n_tasks=20)
    assert result["metric"] == "mse" and result["tasks"] == 20
    assert len(result["after_steps"]) == len(result["ci95"]) == 4
    assert set(result["adapt_lr_grid"]) == {str(lr) for lr in regression.LR_GRID}
    assert result["adapt_lr"] == min(regression.LR_GRID, key=lambda lr: result["adapt_lr_grid"][str(lr)])
    learner = regression.load_learner(tmp_path)
    curves = regression.adaptation_curves(
        learner, regression.held_out_tasks(learner.config, 20, 5, regression.TEST_SEED), lr=result["adapt_lr"], steps=3
    )
    torch.testing.assert_close(torch.tensor(result["after_steps"]), curves.mean(0), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.tensor(result["ci95"]), 1.96 * curves.std(0) / 20**0.5, atol=1e-4, rtol=0)


def test_adaptation_curve_matches_library_adapt():
    """The vectorized evaluation equals metarl_lite.meta.adapt task by task."""
    from metarl_lite.meta import adapt

    learner = regression.make_learner(tiny("maml"))
    tasks = regression.held_out_tasks(learner.config, 4, 5, seed=3)
    curves = regression.adaptation_curves(learner, tasks, lr=0.05, steps=2)
    for i, (support, query) in enumerate(tasks):
        for k in range(3):
            phi = adapt(mse_loss, learner.params, support, lr=0.05, steps=k)
            torch.testing.assert_close(curves[i, k], mse_loss(phi, query).detach())


def test_maml_beats_pretrained_after_one_step(tmp_path):
    """Learning, CI-sized: the quick configs of Finn et al.'s sinusoid experiment."""
    scores = {}
    for algo in ("maml", "pretrain"):
        config = configs.make_config(algo, "sinusoid", "quick", eval_tasks=10)
        regression.train(config, tmp_path / algo, progress=False)
        result = regression.evaluate(regression.load_learner(tmp_path / algo), adapt_steps=1, n_tasks=200)
        scores[algo] = result["after_steps"][1]
    assert scores["maml"] < 0.75 * scores["pretrain"], scores


def test_configs_are_complete_and_named():
    for algo in configs.ALGOS:
        for name in configs.CONFIG_NAMES:
            if algo in configs.RL_ONLY:
                with pytest.raises(ValueError, match="needs an RL task"):
                    configs.make_config(algo, "sinusoid", name)
                continue
            config = configs.make_config(algo, "sinusoid", name)
            assert configs.from_dict(configs.to_dict(config)) == config
    assert configs.make_config("fomaml").first_order and not configs.make_config("maml").first_order
    paper = configs.make_config("maml")
    assert (paper.inner_lr, paper.meta_batch, paper.outer_lr, paper.hidden) == (0.01, 25, 1e-3, (40, 40))
    with pytest.raises(ValueError, match="unknown config keys"):
        configs.make_config("maml", learning_rate=0.1)
