"""`metarl-lite demo`: fast adaptation shown end to end in a few minutes.

1. Load the reference MAML policy of HalfCheetahDir (``results/halfcheetah-dir/maml``, made by
   ``make reproduce``), adapt it to running backward (d = -1) and forward (d = +1) with the
   evaluation protocol (K VPG steps, alpha then alpha / 2, each on 40 fresh episodes) and print
   the mean return after 0..K steps with its standard error over the episodes.
2. Save the adaptation curves (``adaptation.png``) and a video of the policy before and after
   adaptation, a row per direction (``halfcheetah-dir.mp4``).
3. Train MAML on 2D navigation for a few meta-iterations (the `quick` config, ``nav2d_maml/``), so
   the demo trains something, and print its post-update return at the first and last iteration.
"""

import math
from pathlib import Path

import torch

from . import configs
from .rl import meta_rl, policies, training
from .runs import read_metrics

REFERENCE_RUN = Path("results/halfcheetah-dir/maml")
DIRECTIONS = {"backward": {"direction": -1}, "forward": {"direction": 1}}


def run_demo(out, *, run=REFERENCE_RUN, adapt_steps: int = 2, episodes: int = 40, nav2d_iterations: int = 20,
             video_size=(320, 240), progress: bool = True, echo=print) -> dict:
    """The demo into folder ``out``; returns {"returns": {direction: [mean return after 0..K steps]},
    "stderr": {direction: [its standard error over the episodes]}, "video", "figure", "nav2d":
    [post-update return of the first and last iteration]}."""
    import matplotlib.pyplot as plt

    from .render import render_grid
    from .widgets import plot_mujoco_adaptation

    if isinstance(adapt_steps, bool) or not isinstance(adapt_steps, int) or adapt_steps < 1:
        raise ValueError(f"--adapt-steps must be an integer >= 1, got {adapt_steps!r}")
    if isinstance(nav2d_iterations, bool) or not isinstance(nav2d_iterations, int) or nav2d_iterations < 1:
        raise ValueError(f"--nav2d-iterations must be an integer >= 1, got {nav2d_iterations!r}")
    run, out = Path(run), Path(out)
    if not (run / "checkpoint.pt").is_file():
        raise ValueError(f"no reference policy at {run}; run the demo from the repository root, pass --run, "
                         "or train one: metarl-lite train --algo maml --task halfcheetah-dir --config paper "
                         f"--out {REFERENCE_RUN}")
    learner = training.load_learner(run)
    if learner.config.task != "halfcheetah-dir":
        raise ValueError(f"the demo adapts a HalfCheetahDir policy; {run} was trained on {learner.config.task}")
    out.mkdir(parents=True, exist_ok=True)

    echo(f"1. {learner.config.algo} policy of {run} (iteration {learner.iteration}), adapted with {adapt_steps} "
         f"policy-gradient step{'s' * (adapt_steps > 1)} of {episodes} episodes each:")
    path = training.adapt(learner, list(DIRECTIONS.values()), adapt_steps=adapt_steps, episodes_per_task=episodes)
    returns = dict(zip(DIRECTIONS, path.returns().T.tolist()))
    per_episode = torch.stack([meta_rl.episode_returns(batch, len(DIRECTIONS)) for batch in path.episodes], 1)
    stderr = dict(zip(DIRECTIONS, (per_episode.std(-1) / math.sqrt(episodes)).tolist()))  # [direction, step]
    for name, row in returns.items():
        echo(f"   {name:8s} " + "  ".join(f"after {k}: {r:7.1f} ± {se:4.1f}" for k, (r, se) in
                                        enumerate(zip(row, stderr[name]))))
    figure = out / "adaptation.png"
    drawn = {"returns": path.returns().numpy(), "labels": list(DIRECTIONS), "episodes_per_task": episodes}
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_mujoco_adaptation(ax, drawn, title=f"MAML on HalfCheetahDir (iteration {learner.iteration})")
    fig.savefig(figure, dpi=120, bbox_inches="tight")
    plt.close(fig)
    grid = [[(before, task, f"{name}: before"), (after, task, f"{name}: after {adapt_steps} steps")]
            for before, after, (name, task) in zip(policies.unstack(path.params[0]), policies.unstack(path.params[-1]),
                                                   DIRECTIONS.items())]
    video = render_grid("halfcheetah-dir", grid, out / "halfcheetah-dir.mp4", width=video_size[0],
                        height=video_size[1])
    echo(f"2. wrote {figure} and {video['path']} (a row per direction, before | after)")

    config = configs.make_config("maml", "nav2d", "quick", iterations=nav2d_iterations)
    echo(f"3. training MAML on 2D navigation for {nav2d_iterations} meta-iterations ({config.meta_batch} goals x "
         f"{config.episodes_per_task} episodes each):")
    nav_run = training.train(config, out / "nav2d_maml", resume=True, progress=progress)
    rows = read_metrics(nav_run)
    nav2d = [float(rows[0]["post_return"]), float(rows[-1]["post_return"])]
    echo(f"   post-update return {nav2d[0]:.1f} at iteration 1 -> {nav2d[1]:.1f} at iteration {len(rows)} "
         f"({nav_run})")
    return {"returns": returns, "stderr": stderr, "video": video["path"], "figure": str(figure), "nav2d": nav2d}
