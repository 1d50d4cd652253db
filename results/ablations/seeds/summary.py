"""The numbers this folder's README quotes: MAML on HalfCheetahDir and HalfCheetahVel with seeds 0, 1 and 2.

Seed 0 is the reference run results/<task>/maml; seeds 1 and 2 are this folder's. For each run: the
post-update training return, mean per 50 iterations, and the held-out evaluation after 0 / 1 / 2 / 3 steps
(95% half-width over tasks) with its normalized score after one step (`report.normalized_score` against
results/<task>/random and oracle). Per task: the scores of the evaluated seeds, their mean and range.
The held-out tasks are the same for every run, so the spread over seeds is the spread of training.

Run: .venv/bin/python results/ablations/seeds/summary.py   (a second)
"""

from pathlib import Path

import numpy as np

from metarl_lite.report import normalized_score, run_evaluation, scored_returns
from metarl_lite.runs import read_column

HERE = Path("results/ablations/seeds")


def summary(task: str) -> str:
    reference = Path("results") / task
    after, _, _ = scored_returns(reference, ())
    random0, oracle = after["random"][0], after["oracle"][0]
    lines, scores = [f"{task} (R_random,0 {random0:.1f}, R_oracle {oracle:.1f})"], []
    for run in (reference / "maml", *sorted((HERE / task).glob("maml-seed*"))):
        post = read_column(run, "post_return")
        lines.append(f"  {run}: {len(post)} iterations; post-update return per 50: "
                     + " ".join(f"{post[i:i + 50].mean():.1f}" for i in range(0, len(post), 50)))
        result, note = run_evaluation(run)
        if result is None:
            lines.append(f"    {note}")
            continue
        returns, ci = np.array(result["after_steps"]), np.array(result["ci95"])
        scores.append(normalized_score(returns[1], random0, oracle))
        lines.append(f"    evaluation{' ' + note if note else ''}: " + " / ".join(f"{r:.1f}" for r in returns)
                     + " (" + " / ".join(f"{c:.1f}" for c in ci) + f"), score after one step {scores[-1]:.2f}")
    lines.append(f"  scores after one step: {' '.join(f'{s:.2f}' for s in scores)}; mean {np.mean(scores):.2f}, "
                 f"range {min(scores):.2f} to {max(scores):.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    print("\n".join(summary(task) for task in ("halfcheetah-dir", "halfcheetah-vel")))
