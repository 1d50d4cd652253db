"""Meta-training and the evaluation protocol on regression task families.

Training samples a meta-batch of tasks per iteration, each with K support and K query points
(Finn et al. 2017), and takes one step of the chosen algorithm. Evaluation adapts on K support
points of held-out tasks (a fixed seed shared by every method) and reports the query MSE on 100
points after 0, 1, ..., k gradient steps of size alpha, with the 95% half-width over tasks.
"""

import math
import time

import numpy as np
import torch
from torch.func import grad, vmap
from tqdm.auto import tqdm

from . import configs
from .checkpoint import numpy_rng_state, restore_numpy_rng
from .meta import Platipus, maml_objective, reptile_step
from .meta._checks import check_finite
from .meta.maml import _stack
from .nn import init_mlp, mlp, mse_loss
from .runs import RunFolder, load_run
from .tasks import Sinusoid

FAMILIES = {"sinusoid": Sinusoid}
TEST_SEED, VALIDATION_SEED = 20_170_309, 20_170_310  # held-out tasks, the same for every run
QUERY_POINTS = 100
LR_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)


def sample_meta_batch(family, n: int, shots: int, rng, query_points=None) -> list:
    """n tasks, each a (support, query) pair of (x, y) batches."""
    return [(t.sample(shots, rng), t.sample(query_points or shots, rng)) for t in family.sample_tasks(n, rng)]


class Initialization:
    """A meta-learned (or random) initialization theta shared by every task."""

    def __init__(self, config):
        self.config = config
        self.params = init_mlp([1, *config.hidden, 1], seed=config.seed)

    def state_dict(self):
        return {"params": {k: v.detach() for k, v in self.params.items()}}

    def load_state_dict(self, state):
        self.params = {k: v.clone().requires_grad_() for k, v in state["params"].items()}

    def initializations(self, supports, n):
        """Initializations to adapt from, [tasks, n, ...] per parameter: here theta for every task."""
        tasks = supports[0].shape[0]
        return {k: v.detach().expand(tasks, 1, *v.shape) for k, v in self.params.items()}


class GradientLearner(Initialization):
    """theta trained by Adam on a scalar objective of the meta-batch (MAML, FOMAML, pretraining)."""

    def __init__(self, config):
        super().__init__(config)
        self.optimizer = torch.optim.Adam(self.params.values(), lr=config.outer_lr)

    def objective(self, tasks):
        c = self.config
        if c.algo == "pretrain":  # joint training: all points of all tasks, one network
            x = torch.cat([b[0] for task in tasks for b in task])
            y = torch.cat([b[1] for task in tasks for b in task])
            return mse_loss(self.params, (x, y))
        return maml_objective(mse_loss, self.params, tasks, lr=c.inner_lr, steps=c.inner_steps, first_order=c.first_order)

    def step(self, tasks, iteration):
        loss = check_finite(f"the training loss at iteration {iteration}", self.objective(tasks))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def state_dict(self):
        return {**super().state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state):
        with torch.no_grad():
            for k, v in state["params"].items():
                self.params[k].copy_(v)
        self.optimizer.load_state_dict(state["optimizer"])


class ReptileLearner(Initialization):
    """theta <- theta + beta_t mean_i (W_i - theta); beta_t anneals linearly to 0 (Nichol et al.)."""

    def step(self, tasks, iteration):
        c = self.config
        beta = c.outer_lr * (1 - iteration / c.iterations) if c.anneal else c.outer_lr
        batches = [(torch.cat([s[0], q[0]]), torch.cat([s[1], q[1]])) for s, q in tasks]
        loss = check_finite(
            f"the training loss at iteration {iteration}",
            torch.stack([mse_loss(self.params, b) for b in batches]).mean().detach(),
        )
        self.params = reptile_step(mse_loss, self.params, [[b] * c.inner_steps for b in batches],
                                   inner_lr=c.inner_lr, outer_lr=beta)
        return loss.item()


class PlatipusLearner(GradientLearner):
    def __init__(self, config):
        self.config = config
        self.model = Platipus([1, *config.hidden, 1], inner_lr=config.inner_lr, kl_weight=config.kl_weight,
                              noise_std=config.noise_std, seed=config.seed, init_std=config.init_std)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.outer_lr)

    def objective(self, tasks):
        return self.model.elbo_loss(tasks)

    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def initializations(self, supports, n):
        """n draws theta ~ p(theta | D_tr) per task; predictions average their adapted functions."""
        return self.model.prior_samples(supports, n)


LEARNERS = {"maml": GradientLearner, "fomaml": GradientLearner, "pretrain": GradientLearner,
            "reptile": ReptileLearner, "pmaml": PlatipusLearner, "random": Initialization}
LOSS_COLUMN = {"maml": "query_loss", "fomaml": "query_loss", "pretrain": "train_loss",
               "reptile": "train_loss", "pmaml": "neg_elbo", "random": "train_loss"}


def make_learner(config):
    return LEARNERS[config.algo](config)


def adaptation_losses(thetas: dict, tasks, *, lr: float, steps: int) -> dict:
    """Support and query MSE after 0..steps SGD steps of size lr on each task's support set.

    ``thetas`` holds the initializations, [tasks, n, ...] per parameter; the prediction is the mean of
    the n adapted functions (n = 1 for a point estimate). All inner loops run as one nested
    ``torch.func.vmap``. Returns {"support": [tasks, steps + 1], "query": [tasks, steps + 1]}.
    """
    supports, queries = _stack([s for s, _ in tasks]), _stack([q for _, q in tasks])
    if supports is None or queries is None:
        raise ValueError("tasks must be (support, query) pairs of (x, y) batches of equal shapes for every task")
    (x_s, y_s), (x_q, y_q) = supports, queries

    def predictions(theta, support, x):  # [steps + 1, points, outputs]
        out = [mlp(theta, x)]
        for _ in range(steps):
            g = grad(mse_loss)(theta, support)
            theta = {k: theta[k] - lr * g[k] for k in theta}
            out.append(mlp(theta, x))
        return torch.stack(out)

    per_initialization = vmap(predictions, in_dims=(0, None, None))
    preds = vmap(per_initialization)(thetas, supports, torch.cat([x_s, x_q], dim=1)).mean(1)
    k = x_s.shape[1]
    mse = lambda p, y: ((p - y[:, None]) ** 2).mean(dim=(2, 3))  # noqa: E731
    return {"support": mse(preds[:, :, :k], y_s), "query": mse(preds[:, :, k:], y_q)}


def adaptation_curves(learner, tasks, *, lr: float, steps: int, samples: int = 1) -> torch.Tensor:
    """Query MSE after 0..steps SGD steps of size lr on each task's support set: [tasks, steps + 1].

    For probabilistic MAML the prediction is the mean of ``samples`` adapted sampled functions.
    """
    supports = _stack([s for s, _ in tasks])
    return adaptation_losses(learner.initializations(supports, samples), tasks, lr=lr, steps=steps)["query"]


def held_out_tasks(config, n: int, shots: int, seed: int) -> list:
    family = FAMILIES[config.task]()
    return sample_meta_batch(family, n, shots, np.random.default_rng(seed), query_points=QUERY_POINTS)


def evaluate(learner, *, adapt_steps: int = 10, adapt_lr=None, shots=None, n_tasks: int = 600) -> dict:
    """The evaluation protocol; adapt_lr defaults to the training alpha, or for pretrain/random to the
    best of LR_GRID on as many validation tasks as test tasks (mean MSE over steps 1..k; a step size
    that diverges on a few tasks loses), reported under "adapt_lr_grid"."""
    c = learner.config
    shots = shots or c.shots
    samples = getattr(c, "eval_samples", 1)
    result = {"metric": "mse", "tasks": n_tasks, "shots": shots}
    if adapt_lr is None and c.algo in ("pretrain", "random"):
        validation = held_out_tasks(c, n_tasks, shots, VALIDATION_SEED)
        scores = {}
        for lr in LR_GRID:
            score = adaptation_curves(learner, validation, lr=lr, steps=adapt_steps)[:, 1:].mean().item()
            scores[lr] = score if math.isfinite(score) else float("inf")
        adapt_lr = min(scores, key=scores.get)
        result["adapt_lr_grid"] = {str(k): v for k, v in scores.items()}
    adapt_lr = c.inner_lr if adapt_lr is None else adapt_lr
    curves = adaptation_curves(learner, held_out_tasks(c, n_tasks, shots, TEST_SEED), lr=adapt_lr,
                               steps=adapt_steps, samples=samples)
    check_finite(f"the evaluation MSE with adapt lr {adapt_lr}", curves)
    half_width = 1.96 * curves.std(0) / math.sqrt(n_tasks) if n_tasks > 1 else torch.zeros(adapt_steps + 1)
    result.update(adapt_lr=adapt_lr, after_steps=[round(v, 4) for v in curves.mean(0).tolist()],
                  ci95=[round(v, 4) for v in half_width.tolist()])
    if samples > 1:
        result["prediction"] = f"mean of {samples} sampled adapted functions"
    return result


def train(config, out, *, resume: bool = False, progress: bool = True):
    """Train ``config`` into run folder ``out`` (config.json, metrics.csv, checkpoint.pt)."""
    run = RunFolder(out, configs.to_dict(config), resume=resume)
    learner = make_learner(config)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    start, wall = 0, 0.0
    state = run.load_checkpoint() if resume else None
    if state is not None:
        learner.load_state_dict(state["learner"])
        rng = restore_numpy_rng(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        start, wall = state["iteration"], state["wall_seconds"]
    run.start_metrics(["iteration", "wall_seconds", LOSS_COLUMN[config.algo], "val_mse_1step"], start)
    family = FAMILIES[config.task]()
    validation = held_out_tasks(config, config.eval_tasks, config.shots, VALIDATION_SEED)

    def save(iteration):
        run.save_checkpoint({"iteration": iteration, "wall_seconds": wall, "learner": learner.state_dict(),
                             "rng": numpy_rng_state(rng), "torch_rng": torch.get_rng_state()})

    losses = []
    bar = tqdm(range(start, config.iterations), initial=start, total=config.iterations,
               desc=f"{config.algo} {config.task} {config.shots}-shot", disable=not progress)
    for iteration in bar:
        tic = time.perf_counter()
        losses.append(learner.step(sample_meta_batch(family, config.meta_batch, config.shots, rng), iteration))
        wall += time.perf_counter() - tic
        done = iteration + 1
        if done % config.log_every == 0 or done == config.iterations:
            val = adaptation_curves(learner, validation, lr=config.inner_lr, steps=1,
                                    samples=getattr(config, "eval_samples", 1))[:, 1].mean().item()
            run.append_metrics({"iteration": done, "wall_seconds": round(wall, 3),
                                LOSS_COLUMN[config.algo]: f"{np.mean(losses):.6g}", "val_mse_1step": f"{val:.6g}"})
            bar.set_postfix(loss=f"{np.mean(losses):.3f}", val_mse=f"{val:.3f}")
            losses = []
        if done % config.checkpoint_every == 0 or done == config.iterations:
            save(done)
    if config.iterations == 0 and state is None:
        save(0)
    return run.path


def load_learner(path):
    """The learner of a finished or partial run folder."""
    config, state = load_run(path)
    learner = make_learner(config)
    learner.load_state_dict(state["learner"])
    return learner
