"""The numbers this folder's README quotes, from the runs' metrics.csv and evaluation.json.

For each run: the post-update training return, mean per 50 iterations; its best 10-iteration mean
(and the last iteration of that window); the first 10-iteration window above 0 and above 50; for runs
with a trust region (--max-kl), the mean KL of the kept steps and the share of steps the line search
shrank; with the surrogate test too (--surrogate-test), in how many steps the objective rose, how many
were undone, and for how many iterations the post-update returns equal those of the same run without
the test; the norm of the network's weights and biases at the checkpoint and at initialization; and the
held-out evaluation with its normalized score (`report.normalized_score` against
results/halfcheetah-dir/random and oracle).

Run: .venv/bin/python results/ablations/prior-std/summary.py   (a second)
"""

from pathlib import Path

import numpy as np
import torch

from metarl_lite.configs import from_dict
from metarl_lite.report import normalized_score, run_evaluation
from metarl_lite.rl import policies
from metarl_lite.rl.training import load_learner, make_learner
from metarl_lite.runs import read_column, read_config

HERE = Path("results/ablations/prior-std/halfcheetah-dir")
DIR = Path("results/halfcheetah-dir")
RUNS = (DIR / "maml", DIR / "pmaml", *sorted(p for p in HERE.iterdir() if (p / "metrics.csv").exists()))


def first_above(means: np.ndarray, level: float) -> str:
    """The last iteration of the first 10-iteration window whose mean is above ``level``, or "-"."""
    above = np.flatnonzero(means > level)
    return str(above[0] + 10) if len(above) else "-"


def weight_norm(learner) -> float:
    """||weights and biases|| of the policy (probabilistic MAML: its mean mu), log_std left out."""
    return torch.cat([v.detach().flatten() for k, v in learner.policy.items() if k != policies.LOG_STD]).norm().item()


def without_the_test(run: Path) -> Path:
    """The run of this folder with the config of ``run`` except for the surrogate test."""
    def rest(config: dict) -> dict:
        return {k: v for k, v in config.items() if k != "surrogate_test"}

    return next(p for p in RUNS
                if not read_config(p).get("surrogate_test") and rest(read_config(p)) == rest(read_config(run)))


def summary(run: Path, random0: float, oracle: float) -> str:
    post, config = read_column(run, "post_return"), read_config(run)
    means = np.convolve(post, np.ones(10) / 10, mode="valid")
    lines = [f"{run} (seed {config['seed']}, sigma_0 {config.get('prior_std', '-')}, "
             f"max_kl {config.get('max_kl')}), {len(post)} iterations",
             "  post-update return per 50: " + " ".join(f"{post[i:i + 50].mean():.1f}" for i in range(0, len(post), 50)),
             f"  best 10-iteration mean {means.max():.1f} (iterations {means.argmax() + 1}-{means.argmax() + 10}); "
             f"first above 0 at {first_above(means, 0)}, above 50 at {first_above(means, 50)}",
             f"  weight norm {weight_norm(load_learner(run)):.1f} at the checkpoint, "
             f"{weight_norm(make_learner(from_dict(config))):.1f} at initialization"]
    if config.get("algo") == "pmaml" and config.get("max_kl") is not None:
        step_kl, backtracks = read_column(run, "step_kl"), read_column(run, "backtracks")
        lines.append(f"  kept step KL: mean {step_kl.mean():.4f}; steps shrunk by the line search: "
                     f"{(backtracks > 0).mean():.0%} (in the last 100: {(backtracks[-100:] > 0).mean():.0%})")
    if config.get("surrogate_test"):
        objective, after = read_column(run, "objective"), read_column(run, "objective_after")
        lines.append(f"  surrogate test: the objective rose in {(after > objective).sum()} of {len(post)} steps; "
                     f"steps undone: {(read_column(run, 'backtracks') == 15).sum()}")
        twin = without_the_test(run)
        other = read_column(twin, "post_return")[:len(post)]
        same = len(post) if (other == post).all() else np.flatnonzero(other != post)[0]
        lines.append(f"  post-update returns equal to {twin.name}'s for the first {same} iterations")
    result, note = run_evaluation(run)
    if result is not None:
        after, ci = np.array(result["after_steps"]), np.array(result["ci95"])
        score = normalized_score(after, random0, oracle)
        lines.append(f"  evaluation{' ' + note if note else ''}: " + " / ".join(f"{a:.1f}" for a in after)
                     + " (" + " / ".join(f"{c:.1f}" for c in ci) + "), score " + " / ".join(f"{s:.2f}" for s in score))
    return "\n".join(lines)


if __name__ == "__main__":
    random0 = run_evaluation(DIR / "random")[0]["after_steps"][0]
    oracle = run_evaluation(DIR / "oracle")[0]["after_steps"][0]
    for run in RUNS:
        print(summary(run, random0, oracle))
