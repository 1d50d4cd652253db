"""The `metarl-lite` command: train/evaluate/plot as a user runs them, bad input, kill and resume."""

import json

import pytest

from metarl_lite import runs
from metarl_lite.cli import main


def test_train_evaluate_plot_random_run(tmp_path, capsys):
    out = tmp_path / "random"
    assert main(["train", "--algo", "random", "--task", "sinusoid", "--out", str(out), "--quiet"]) == 0
    assert main(["evaluate", str(out), "--adapt-steps", "2", "--tasks", "30", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["metric"] == "mse" and result["tasks"] == 30
    assert len(result["after_steps"]) == len(result["ci95"]) == 3
    assert json.loads((out / "evaluation.json").read_text()) == result
    assert main(["plot", str(out), "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "{out}", "--adapt-steps", "-1"], "--adapt-steps must be >= 0"),
        (["evaluate", "{out}", "--tasks", "0"], "--tasks must be >= 1"),
        (["evaluate", "{missing}"], "holds no run"),
        (["train", "--algo", "random", "--task", "sinusoid", "--shots", "10", "--out", "{out}"], "holds another run"),
        (["train", "--algo", "random", "--task", "sinusoid", "--out", "{out}"], "pass --resume"),
        (["train", "--algo", "maml", "--task", "sinusoid", "--shots", "0", "--out", "{new}"], "--shots must be >= 1"),
    ],
)
def test_bad_input_gives_one_line_error_and_overwrites_nothing(argv, message, tmp_path, cli_error):
    out = tmp_path / "run"
    main(["train", "--algo", "random", "--task", "sinusoid", "--out", str(out), "--quiet"])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    argv = [a.format(out=out, missing=tmp_path / "none", new=tmp_path / "new") for a in argv]
    assert message in cli_error(argv)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("flag, value", [("--algo", "mamll"), ("--task", "omniglot"), ("--config", "huge")])
def test_unknown_names_are_rejected_with_the_choices(flag, value, tmp_path, capsys):
    argv = {"--algo": "maml", "--task": "sinusoid", "--config": "quick"}
    argv[flag] = value
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *[x for kv in argv.items() for x in kv], "--out", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"invalid choice: '{value}'" in err and "choose from" in err
    assert not (tmp_path / "r").exists()


def test_corrupt_checkpoint_is_reported_not_overwritten(tmp_path, cli_error):
    out = tmp_path / "run"
    main(["train", "--algo", "random", "--task", "sinusoid", "--out", str(out), "--quiet"])
    (out / "checkpoint.pt").write_bytes(b"garbage")
    assert "corrupt or truncated" in cli_error(["evaluate", out])
    assert main(["train", "--algo", "random", "--task", "sinusoid", "--out", str(out), "--resume"]) == 2
    assert (out / "checkpoint.pt").read_bytes() == b"garbage"


def test_killed_training_process_resumes_to_the_uninterrupted_metrics(kill_and_resume):
    """SIGKILL a real `metarl-lite train` after its first checkpoint, then --resume it."""
    whole, split = kill_and_resume(["train", "--algo", "maml", "--task", "sinusoid", "--config", "quick"])
    strip = lambda path: [{k: v for k, v in r.items() if k != "wall_seconds"} for r in runs.read_metrics(path)]  # noqa: E731
    assert strip(split) == strip(whole)
    assert len(strip(split)) == 15


def test_plotted_runs_that_share_a_name_are_told_apart_by_their_config(tmp_path):
    import matplotlib.pyplot as plt

    from metarl_lite.plotting import plot_adaptation_curves

    runs_ = [(tmp_path / "a", ["--seed", "0"]), (tmp_path / "b", ["--seed", "1"]), (tmp_path / "c", ["--shots", "10"])]
    for out, options in runs_:
        main(["train", "--algo", "random", "--task", "sinusoid", *options, "--out", str(out), "--quiet"])
        main(["evaluate", str(out), "--adapt-steps", "1", "--tasks", "5"])
    fig, ax = plt.subplots()
    plot_adaptation_curves(ax, [out for out, _ in runs_])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "random (5-shot, seed 0)", "random (5-shot, seed 1)", "random (10-shot)"]
    plt.close(fig)


def test_a_run_has_one_color_in_both_panels_when_another_lacks_a_curve(tmp_path):
    # a random initialization has no training curve and a run in progress no evaluation yet
    import matplotlib.pyplot as plt

    from metarl_lite.plotting import plot_adaptation_curves, plot_learning_curves

    runs_ = [tmp_path / algo for algo in ("maml", "random", "pretrain")]
    for out in runs_:
        iterations = [] if out.name == "random" else ["--iterations", "2"]
        main(["train", "--algo", out.name, "--task", "sinusoid", *iterations, "--out", str(out), "--quiet"])
    for out in runs_[:2]:
        main(["evaluate", str(out), "--adapt-steps", "1", "--tasks", "5"])
    fig, (left, right) = plt.subplots(1, 2)
    plot_learning_curves(left, runs_)
    plot_adaptation_curves(right, runs_)
    colors = [{label.split()[0]: getattr(handle, "lines", [handle])[0].get_color()  # an errorbar's line
               for handle, label in zip(*ax.get_legend_handles_labels())} for ax in (left, right)]
    assert set(colors[0]) == {"maml", "pretrain"} and set(colors[1]) == {"maml", "random"}
    assert colors[0]["maml"] == colors[1]["maml"] and len({*colors[0].values(), *colors[1].values()}) == 3
    plt.close(fig)
