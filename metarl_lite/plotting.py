"""Figures of the course: learning curves and adaptation curves of run folders.

Regression runs plot the validation MSE after one step while training and the held-out query MSE
against adaptation steps; RL runs plot the post-update return of the training tasks and the
held-out return against policy-gradient steps (MAML Fig. 4 / 5 style).
"""

import json
import math
from pathlib import Path

import matplotlib
from matplotlib.ticker import MaxNLocator

from .configs import is_rl
from .runs import as_current, read_config, read_metrics

# per kind: (metrics.csv column, its axis label, y scale, adaptation axis label, x label of adaptation)
KINDS = {
    False: ("val_mse_1step", "validation MSE after 1 step", "log", "query MSE", "gradient steps at test time"),
    True: ("post_return", "return after adaptation (training tasks)", "linear", "mean return",
           "policy-gradient steps at test time"),
}


def _labels(runs) -> dict:
    """Each run's legend entry: its algo (and shots); runs that would share one add the config values
    that set them apart, e.g. "maml (backtrack_ratio 0.8, rescale_step True)"."""
    saved = {path: as_current(read_config(path)) for path in runs}
    tags = {path: [f"{c['shots']}-shot"] if "shots" in c else [] for path, c in saved.items()}
    names = {path: (c["algo"], *tags[path]) for path, c in saved.items()}
    labels = {}
    for path, (algo, *tag) in names.items():
        twins = [p for p in runs if names[p] == names[path]]
        tag += [f"{k} {saved[path][k]}" for k in saved[path] if len({json.dumps(saved[p][k]) for p in twins}) > 1]
        labels[path] = f"{algo} ({', '.join(tag)})" if tag else algo
    return labels


def _colors(runs) -> dict:
    """One color per run, the same in both panels even where a run has no curve in one of them."""
    return {path: f"C{i % 10}" for i, path in enumerate(runs)}


def _kind(runs) -> bool:
    """True for RL runs; one figure never mixes regression and RL."""
    kinds = {is_rl(read_config(path)["task"]) for path in runs}
    if len(kinds) != 1:
        raise ValueError("plot either regression runs or RL runs, not both in one figure")
    return kinds.pop()


def _legend(ax):
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    else:  # e.g. a random initialization has no training curve
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")


def plot_learning_curves(ax, runs):
    """The validation MSE (regression) or the post-update return (RL) against meta-iterations."""
    column, label, scale, *_ = KINDS[_kind(runs)]
    labels, colors = _labels(runs), _colors(runs)
    for path in runs:
        rows = read_metrics(path)
        if rows:
            ax.plot([int(r["iteration"]) for r in rows], [float(r[column]) for r in rows], label=labels[path],
                    color=colors[path])
    ax.set(xlabel="meta-iteration", ylabel=label, yscale=scale, title="meta-training")
    _legend(ax)


def plot_adaptation_curves(ax, runs):
    """Held-out MSE or return (mean +- 95% CI) against adaptation steps, from each run's evaluation.json."""
    *_, label, xlabel = KINDS[_kind(runs)]
    labels, colors = _labels(runs), _colors(runs)
    for path in runs:
        file = Path(path) / "evaluation.json"
        if file.exists():
            result = json.loads(file.read_text())
            steps = range(len(result["after_steps"]))
            partial = result.get("iteration", math.inf) < read_config(path)["iterations"]  # a checkpoint mid-run
            name = f"{labels[path]} (iteration {result['iteration']})" if partial else labels[path]
            ax.errorbar(steps, result["after_steps"], yerr=result["ci95"], marker="o", capsize=3, label=name,
                        color=colors[path])
    ax.set(xlabel=xlabel, ylabel=label, title="adaptation on held-out tasks")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ax)


def plot_runs(runs, out):
    """Write a two-panel figure (meta-training, adaptation) for run folders to ``out``."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    plot_learning_curves(left, runs)
    plot_adaptation_curves(right, runs)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
