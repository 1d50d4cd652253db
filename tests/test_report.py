"""metarl_lite.report: the README's results table is generated from results/, never typed in."""

import json
from pathlib import Path

import pytest

from metarl_lite import configs, regression, report
from metarl_lite.rl import training

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("task", sorted(p.name for p in (ROOT / "results").iterdir() if p.name in configs.TASKS))
def test_readme_table_is_the_one_generated_from_results(task):
    root = ROOT / "results" / task
    assert report.readme_table(ROOT / "README.md", root) == report.results_table(root), (
        f"README's results table is stale: run `metarl-lite table results/{task} --update-readme README.md`"
    )


def test_table_shows_evaluated_runs_and_marks_unfinished_ones(tmp_path):
    finished = configs.make_config("random", "sinusoid", "quick", eval_tasks=5)
    regression.train(finished, tmp_path / "random_5shot", progress=False)
    evaluation = {"metric": "mse", "tasks": 3, "adapt_lr": 0.003, "after_steps": [float(k) for k in range(11)], "ci95": [0.5] * 11}
    (tmp_path / "random_5shot" / "evaluation.json").write_text(json.dumps(evaluation))
    unfinished = configs.make_config("maml", "sinusoid", "quick", iterations=40, log_every=20, eval_tasks=5,
                                     meta_batch=2)
    regression.train(unfinished, tmp_path / "maml_5shot", progress=False)
    (tmp_path / "maml_5shot" / "config.json").write_text(
        json.dumps({**configs.to_dict(unfinished), "iterations": 100}))  # as if still running
    lines = report.results_table(tmp_path).splitlines()
    assert lines[2] == "| `maml_5shot` | 5 | | training: 40 of 100 iterations | | | |"
    assert lines[3] == "| `random_5shot` | 5 | 0.003 | 1.00 ± 0.50 | 5.00 ± 0.50 | 10.00 ± 0.50 |  |"


def test_normalized_score_is_0_at_the_random_start_and_1_at_the_oracle_elementwise():
    assert report.normalized_score([-80.0, -4.0, -42.0], -80.0, -4.0).tolist() == [0.0, 1.0, 0.5]
    assert report.normalized_score(-118.0, -80.0, -4.0) == -0.5  # worse than the random start: negative


def test_scored_returns_reads_each_evaluation_and_scores_it_against_random_and_oracle(tmp_path):
    runs = {"random": ([-80.0, -60.0], [2.0, 3.0]), "oracle": ([-4.0, -4.0], [1.0, 1.0]), "maml": ([-42.0, -4.0], [5.0, 4.0])}
    for algo, (after_steps, ci95) in runs.items():
        (tmp_path / algo).mkdir()
        (tmp_path / algo / "evaluation.json").write_text(json.dumps({"after_steps": after_steps, "ci95": ci95}))
    after, ci95, score = report.scored_returns(tmp_path, ["maml"])
    assert set(after) == set(ci95) == set(score) == {"maml", "random", "oracle"}
    assert after["maml"].tolist() == [-42.0, -4.0] and ci95["maml"].tolist() == [5.0, 4.0]
    assert score["maml"].tolist() == [0.5, 1.0] and score["random"].tolist() == [0.0, 20 / 76]


def test_rl_table_scores_against_our_random_and_oracle_runs(tmp_path):
    returns = {"random": [-80.0, -60.0], "oracle": [-4.0, -4.0], "maml": [-40.0, -12.0]}
    for algo, after_steps in returns.items():
        config = configs.make_config(algo, "nav2d", "quick", iterations=0, eval_tasks=2)
        training.train(config, tmp_path / algo, progress=False)
        evaluation = {"metric": "return", "tasks": 2, "adapt_lr": 0.1, "after_steps": after_steps, "ci95": [1.0, 2.0]}
        (tmp_path / algo / "evaluation.json").write_text(json.dumps(evaluation))
    unfinished = configs.make_config("fomaml", "nav2d", "quick", iterations=0, eval_tasks=2)
    training.train(unfinished, tmp_path / "fomaml", progress=False)
    (tmp_path / "fomaml" / "config.json").write_text(json.dumps({**configs.to_dict(unfinished), "iterations": 7}))
    partial = configs.make_config("reptile", "nav2d", "quick", iterations=0, eval_tasks=2)
    training.train(partial, tmp_path / "reptile", progress=False)  # an evaluated checkpoint of an unfinished run
    (tmp_path / "reptile" / "config.json").write_text(json.dumps({**configs.to_dict(partial), "iterations": 9}))
    (tmp_path / "reptile" / "evaluation.json").write_text(json.dumps({**evaluation, "iteration": 0}))
    lines = report.results_table(tmp_path).splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "`maml`", "`fomaml`", "`reptile` (at iteration 0 of 9)", "`random`", "`oracle`"]
    maml_score = (-12.0 + 80.0) / (-4.0 + 80.0)
    paper_score = (-11.7 + 82.7) / (-2.29 + 82.7)
    assert lines[2] == (f"| `maml` | 0.1 | -40.0 ± 1.0 | -12.0 ± 2.0 |  |  | -40.4 / -11.7 / -3.3 / -3.2 "
                        f"| {maml_score:.2f} ({paper_score:.2f}) |  |")
    assert lines[3] == "| `fomaml` | | training: 0 of 7 iterations | | | | | | |"
    assert lines[4].startswith("| `reptile` (at iteration 0 of 9) | 0.1 | -40.0 ± 1.0 | -12.0 ± 2.0 |")
    assert lines[6] == "| `oracle` | 0.1 | -4.0 ± 1.0 | -4.0 ± 2.0 |  |  | -2.29 | 1.00 |  |"


def test_scores_against_an_unfinished_oracle_are_marked_provisional(tmp_path):
    evaluation = {"metric": "return", "tasks": 2, "adapt_lr": 0.1, "ci95": [1.0, 2.0]}
    for algo, after_steps, iterations in (("random", [-80.0, -60.0], 0), ("oracle", [-4.0, -4.0], 9),
                                          ("maml", [-40.0, -12.0], 0)):
        config = configs.make_config(algo, "nav2d", "quick", iterations=0, eval_tasks=2)
        training.train(config, tmp_path / algo, progress=False)
        (tmp_path / algo / "config.json").write_text(json.dumps({**configs.to_dict(config), "iterations": iterations}))
        (tmp_path / algo / "evaluation.json").write_text(json.dumps({**evaluation, "after_steps": after_steps,
                                                                     "iteration": 0}))
    lines = report.results_table(tmp_path).splitlines()
    assert f"| {(-12.0 + 80.0) / (-4.0 + 80.0):.2f}* (" in lines[2]
    assert lines[-1] == "\\* Provisional: the oracle is at iteration 0 of 9." and lines[-2] == ""
    (tmp_path / "oracle" / "evaluation.json").unlink()  # no oracle evaluation: no score, no footnote
    lines = report.results_table(tmp_path).splitlines()
    assert "*" not in "\n".join(lines) and lines[2].endswith("| -40.4 / -11.7 / -3.3 / -3.2 |  |  |")


def test_update_readme_rewrites_only_the_table(tmp_path):
    readme = tmp_path / "README.md"
    begin, end = report.markers(tmp_path / "results")
    readme.write_text(f"intro\n{begin}\nold\n{end}\nmiddle\n{report.markers('nav2d')[0]}\nkept\n{end}\noutro\n")
    (tmp_path / "results").mkdir()
    report.update_readme(readme, tmp_path / "results")
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("\nkept\n" + end + "\noutro\n") and "old" not in text
    assert report.readme_table(readme, tmp_path / "results") == report.results_table(tmp_path / "results")
    with pytest.raises(ValueError, match="no results markers"):
        report.readme_table(readme, tmp_path / "elsewhere")


def test_an_evaluated_checkpoint_stays_marked_after_the_run_finishes(tmp_path):
    config = configs.make_config("pretrain", "nav2d", "quick", iterations=2, meta_batch=2, episodes_per_task=2,
                                 hidden=(8,), eval_tasks=2)
    training.train(config, tmp_path / "pretrain", progress=False)
    evaluation = {"metric": "return", "tasks": 2, "adapt_lr": 0.1, "after_steps": [-40.0, -30.0], "ci95": [1.0, 1.0]}
    for iteration, name in ((1, "`pretrain` (at iteration 1 of 2)"), (2, "`pretrain`")):
        (tmp_path / "pretrain" / "evaluation.json").write_text(json.dumps({**evaluation, "iteration": iteration}))
        assert report.results_table(tmp_path).splitlines()[2].split("|")[1].strip() == name
