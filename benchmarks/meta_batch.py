"""Throughput of the supervised meta-learning core, printed as ratios against baselines run here.

1. The MAML meta-gradient over a meta-batch of 25 sinusoid tasks: one torch.func.vmap call vs a
   Python loop over tasks (metarl_lite.meta.adapt per task); goal >= 3x.
2. Meta-iterations per second of each algorithm's `paper` config (task sampling included).

Run: make bench   (or .venv/bin/python benchmarks/meta_batch.py)
"""

import time

import numpy as np
import torch

from metarl_lite import configs, regression, seed_everything
from metarl_lite.meta import adapt, maml_objective
from metarl_lite.nn import mse_loss

REPEATS = 60


def loop_objective(params, tasks, lr):
    loss = mse_loss
    return torch.stack([loss(adapt(loss, params, s, lr=lr), q) for s, q in tasks]).mean()


def vmap_objective(params, tasks, lr):
    return maml_objective(mse_loss, params, tasks, lr=lr)


def seconds_per_call(fn, batches, params):
    fn(params, batches[0], 0.01).backward()  # warm-up
    tic = time.perf_counter()
    for tasks in batches:
        fn(params, tasks, 0.01).backward()
    return (time.perf_counter() - tic) / len(batches)


def main():
    rng = seed_everything(0)
    config = configs.make_config("maml", "sinusoid", "paper")
    learner = regression.make_learner(config)
    family = regression.Sinusoid()
    batches = [regression.sample_meta_batch(family, config.meta_batch, config.shots, rng) for _ in range(REPEATS)]
    loop = seconds_per_call(loop_objective, batches, learner.params)
    vmapped = seconds_per_call(vmap_objective, batches, learner.params)
    print(f"MAML meta-gradient, meta-batch {config.meta_batch}: loop {loop * 1e3:.2f} ms, "
          f"vmap {vmapped * 1e3:.2f} ms, ratio loop/vmap = {loop / vmapped:.2f}x (goal >= 3x)")

    print("meta-iterations per second, `paper` configs (5-shot sinusoid, one thread):")
    for algo in ("maml", "fomaml", "reptile", "pmaml", "pretrain"):
        config = configs.make_config(algo, "sinusoid", "paper")
        learner = regression.make_learner(config)
        step_rng = np.random.default_rng(0)
        tic = time.perf_counter()
        for i in range(REPEATS):
            learner.step(regression.sample_meta_batch(family, config.meta_batch, config.shots, step_rng), i)
        rate = REPEATS / (time.perf_counter() - tic)
        print(f"  {algo:9s} {rate:7.1f} it/s  ({config.iterations} iterations ~ {config.iterations / rate / 60:.1f} min)")


if __name__ == "__main__":
    main()
