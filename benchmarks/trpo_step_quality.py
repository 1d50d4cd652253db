"""What subsampled Fisher-vector products cost the TRPO step of MAML-RL: KL and gain along its line search.

The `paper` config of the MuJoCo tasks runs the conjugate gradient on the Fisher matrix of 10 of
the 40 tasks (``fisher_tasks``), which makes the outer step ~3x cheaper. This prints, for a trained
run's theta and a few fresh meta-batches, the step x = F^-1 g scaled to s^T F s / 2 = delta with F
from ``fisher_tasks`` tasks and from all tasks, and along each step the exact mean KL (all tasks) and
the surrogate gain dL at the fractions 1, 0.8, 0.64, 0.5, 0.25 that a line search with ratio 0.8 or
0.5 tries, and where the full step overshoots, the same for the step that ``rescale_step`` sizes by
that KL. A fraction is accepted when its KL <= delta and dL > 0.

Run: .venv/bin/python benchmarks/trpo_step_quality.py results/halfcheetah-dir/maml [meta-batches]
(about 1 minute per meta-batch on one core).
"""

import math
import sys
from functools import partial

import torch

from metarl_lite import seed_everything
from metarl_lite.rl import meta_rl, policies, trpo
from metarl_lite.rl.training import held_out_tasks, load_learner, make_env_fn

FRACTIONS = (1.0, 0.8, 0.64, 0.5, 0.25)


def main(run: str, batches: int = 2) -> None:
    seed_everything(0)
    learner = load_learner(run)
    c, theta = learner.config, {k: v.detach().requires_grad_() for k, v in learner.theta.items()}
    print(f"{run}: delta = {c.max_kl}, Fisher on {c.fisher_tasks} of {c.meta_batch} tasks, iteration {learner.iteration}")
    for seed in range(batches):
        tasks = held_out_tasks(c, c.meta_batch, 1000 + seed)
        path = meta_rl.sample_path(make_env_fn(c)(tasks, c.episodes_per_task),
                                   policies.stack([meta_rl.detached(theta)] * len(tasks)), inner_lr=c.inner_lr,
                                   inner_steps=c.inner_steps, horizon=c.horizon, seed=seed)
        inner = {"inner_lr": c.inner_lr, "estimator": c.estimator, "first_order": c.first_order}
        surrogate, kl = (partial(fn, path=path, **inner) for fn in (meta_rl.meta_surrogate, meta_rl.meta_kl))
        before = surrogate(theta)
        g = trpo._flat(torch.autograd.grad(before, list(theta.values())))
        start = trpo._flat(theta.values()).detach()
        for tasks_in_fisher in (c.fisher_tasks or c.meta_batch, c.meta_batch):
            fisher_kl = partial(meta_rl.meta_kl, path=path.first_tasks(tasks_in_fisher), **inner)
            fvp = trpo.fisher_vector_product(fisher_kl, theta, damping=c.damping)
            x = trpo.conjugate_gradient(fvp, g, iters=c.cg_iters)
            step = math.sqrt(2 * c.max_kl / float(x @ fvp(x))) * x
            cells = []
            for fraction in FRACTIONS:
                candidate = trpo._unflat(start + fraction * step, theta)
                cells.append(f"{fraction}: KL {kl(candidate).item():.4f}, dL {surrogate(candidate).item() - before.item():+.2e}")
            print(f"batch {seed}, Fisher on {tasks_in_fisher:2d} tasks | " + " | ".join(cells), flush=True)
            shorter = trpo.rescaled(step, kl(trpo._unflat(start + step, theta)).item(), c.max_kl)
            if shorter is not step:  # what rescale_step then starts the line search from
                candidate = trpo._unflat(start + shorter, theta)
                print(f"batch {seed}, Fisher on {tasks_in_fisher:2d} tasks, rescaled by {(shorter.norm() / step.norm()):.3f} | "
                      f"KL {kl(candidate).item():.4f}, dL {surrogate(candidate).item() - before.item():+.2e}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
