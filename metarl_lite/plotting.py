"""Figures of the course: learning curves and adaptation curves of run folders."""

import json
from pathlib import Path

import matplotlib

from .runs import read_config, read_metrics


def _label(path) -> str:
    c = read_config(path)
    return f"{c['algo']} ({c['shots']}-shot)" if "shots" in c else c["algo"]


def _legend(ax):
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    else:  # e.g. a random initialization has no training curve
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")


def plot_learning_curves(ax, runs):
    """Validation MSE after one adaptation step against meta-iterations, one line per run."""
    for path in runs:
        rows = read_metrics(path)
        if rows:
            ax.plot([int(r["iteration"]) for r in rows], [float(r["val_mse_1step"]) for r in rows], label=_label(path))
    ax.set(xlabel="meta-iteration", ylabel="validation MSE after 1 step", yscale="log", title="meta-training")
    _legend(ax)


def plot_adaptation_curves(ax, runs):
    """Held-out MSE (mean +- 95% CI) against adaptation steps, from each run's evaluation.json."""
    for path in runs:
        file = Path(path) / "evaluation.json"
        if file.exists():
            result = json.loads(file.read_text())
            steps = range(len(result["after_steps"]))
            ax.errorbar(steps, result["after_steps"], yerr=result["ci95"], marker="o", capsize=3, label=_label(path))
    ax.set(xlabel="gradient steps at test time", ylabel="query MSE", title="adaptation on held-out tasks")
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
