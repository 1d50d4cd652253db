"""metarl_lite.report: the README's results table is generated from results/, never typed in."""

import json
from pathlib import Path

from metarl_lite import configs, regression, report

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_the_one_generated_from_results():
    assert report.readme_table(ROOT / "README.md") == report.results_table(ROOT / "results" / "sinusoid"), (
        "README's results table is stale: run `metarl-lite table results/sinusoid --update-readme README.md`"
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


def test_update_readme_rewrites_only_the_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.BEGIN}\nold\n{report.END}\noutro\n")
    (tmp_path / "results").mkdir()
    report.update_readme(readme, tmp_path / "results")
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert report.readme_table(readme) == report.results_table(tmp_path / "results")
