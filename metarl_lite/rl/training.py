"""Meta-RL runs: training any algorithm on an RL task family into a run folder, and the evaluation protocol.

Meta-iteration i draws ``meta_batch`` tasks from the family with the seed (config seed, i) and
takes one step of the algorithm (``meta_rl``): MAML / FOMAML (TRPO after k inner VPG steps), ProMP,
pretrain and oracle (TRPO with k = 0 on all tasks at once; the oracle observes the task), Reptile
and probabilistic MAML. Everything an iteration draws comes from (seed, i), so a run resumed from
its checkpoint ends with exactly the metrics of an uninterrupted one.

Evaluation (every method alike, the protocol of the MAML paper's test scripts, cbfinn/maml_rl
maml_examples/test_maml_*.py): ``eval_tasks`` held-out tasks (a fixed seed shared by every run), K
VPG steps from the learned initialization, the first of size alpha and the later ones of size
alpha / 2, each on ``eval_episodes`` fresh episodes per task; the mean return after 0..K steps with
the 95% half-width over tasks. alpha is the training inner step size; pretrain and random adapt with
the best alpha of ``LR_GRID`` on as many validation tasks. The oracle, which is told the task, is
not adapted (alpha = 0, as in the paper's test script): each "step" re-samples the same policy.
"""

import functools
import math
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import configs
from ..meta._checks import check_finite
from ..runs import RunFolder, load_run, read_metrics
from ..tasks import RL_FAMILIES, oracle
from . import meta_rl
from .policies import init_policy
from .sampler import SamplerPool

TEST_SEED, VALIDATION_SEED = 20_170_309, 20_170_310  # held-out tasks, the same for every run
LR_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
LATER_STEP_FACTOR = 0.5  # steps 2..K have size alpha / 2 (MAML's test scripts)
BASE_COLUMNS = ("iteration", "wall_seconds", "pre_return", "post_return", "sample_seconds", "adapt_seconds",
                "outer_seconds")


def make_env_fn(config):
    """``make_env(tasks, episodes_per_task)`` for the run's family (the oracle's shows the task)."""
    return functools.partial(oracle.make_vec_env, RL_FAMILIES[config.task], oracle=config.algo == "oracle")


class PolicyLearner:
    """A policy theta, (64, 64) tanh Gaussian by default, sized for the family's spaces; untrained
    it is the random baseline."""

    columns = ()  # the algorithm's own metrics.csv columns
    run_path = iteration = None  # the run folder and the checkpoint's iteration, once loaded from one

    def __init__(self, config):
        self.config = config
        family = RL_FAMILIES[config.task]
        env = make_env_fn(config)(family.sample_tasks(1, np.random.default_rng(0)), 1)
        (obs_dim,), (act_dim,) = env.single_observation_space.shape, env.single_action_space.shape
        self.theta = init_policy(obs_dim, act_dim, hidden=config.hidden, seed=config.seed,
                                 log_std=math.log(config.policy_std))

    @property
    def init(self):
        """What evaluation adapts from: the policy (a distribution for probabilistic MAML)."""
        return self.theta

    @property
    def policy(self) -> dict:
        """The policy before adaptation: theta (probabilistic MAML: its distribution's mean mu)."""
        return self.theta

    def state_dict(self) -> dict:
        return {"theta": meta_rl.detached(self.theta)}

    def load_state_dict(self, state: dict) -> None:
        self.theta = {k: v.clone().requires_grad_() for k, v in state["theta"].items()}

    def check(self, iteration: int) -> None:
        """Stop on a NaN or Inf in any saved parameter (theta; mu and log_sigma), before it is saved."""
        for part, values in self.state_dict().items():
            if part != "optimizer":
                for name, value in values.items():
                    check_finite(f"{part} {name} after iteration {iteration}", value)


class TRPOLearner(PolicyLearner):
    """MAML / FOMAML (k >= 1) and the joint-training baselines pretrain and oracle (k = 0)."""

    columns = ("kl", "backtracks")

    def step(self, env, seed: int) -> dict:
        c = self.config
        self.theta, metrics = meta_rl.maml_rl_step(
            self.theta, env, horizon=c.horizon, seed=seed, inner_lr=c.inner_lr, inner_steps=c.inner_steps,
            estimator=c.estimator, first_order=c.first_order, max_kl=c.max_kl, fisher_tasks=c.fisher_tasks,
            cg_iters=c.cg_iters, damping=c.damping, backtrack_ratio=c.backtrack_ratio, rescale_step=c.rescale_step)
        return metrics


class ReptileLearner(PolicyLearner):
    def step(self, env, seed: int) -> dict:
        c = self.config
        self.theta, metrics = meta_rl.reptile_rl_step(self.theta, env, horizon=c.horizon, seed=seed,
                                                      inner_lr=c.inner_lr, inner_steps=c.inner_steps,
                                                      outer_lr=c.outer_lr)
        return metrics


class ProMPLearner(PolicyLearner):
    """theta trained by Adam on ProMP's objective (``meta_rl.promp_rl_step``)."""

    columns = ("clip_objective_after", "inner_kl")

    def __init__(self, config):
        super().__init__(config)
        self.optimizer = torch.optim.Adam(self.theta.values(), lr=config.outer_lr)

    def step(self, env, seed: int) -> dict:
        c = self.config
        return meta_rl.promp_rl_step(self.theta, self.optimizer, env, horizon=c.horizon, seed=seed,
                                     inner_lr=c.inner_lr, inner_steps=c.inner_steps, outer_steps=c.outer_steps,
                                     clip=c.clip, inner_kl_weight=c.inner_kl_weight)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for k, v in state["theta"].items():
                self.theta[k].copy_(v)
        self.optimizer.load_state_dict(state["optimizer"])


class PMAMLLearner(PolicyLearner):
    """N(mu, sigma^2) over theta, mu initialized at theta, trained by Adam (``meta_rl.pmaml_rl_step``)."""

    def __init__(self, config):
        super().__init__(config)
        self.columns = ("sigma", "kl_to_prior", *(() if config.max_kl is None else ("step_kl", "backtracks")),
                        *(("objective", "objective_after") if config.surrogate_test else ()))
        self.dist = meta_rl.PolicyDistribution(self.theta, prior_std=config.prior_std)
        self.optimizer = torch.optim.Adam(self.dist.parameters(), lr=config.outer_lr)

    @property
    def init(self):
        return self.dist

    @property
    def policy(self) -> dict:
        return self.dist.mu

    def step(self, env, seed: int) -> dict:
        c = self.config
        return meta_rl.pmaml_rl_step(self.dist, self.optimizer, env, horizon=c.horizon, seed=seed,
                                     inner_lr=c.inner_lr, inner_steps=c.inner_steps, kl_weight=c.kl_weight,
                                     estimator=c.estimator, max_kl=c.max_kl, surrogate_test=c.surrogate_test)

    def state_dict(self) -> dict:
        return {"mu": meta_rl.detached(self.dist.mu), "log_sigma": meta_rl.detached(self.dist.log_sigma),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for mine, saved in ((self.dist.mu, state["mu"]), (self.dist.log_sigma, state["log_sigma"])):
                for k, v in saved.items():
                    mine[k].copy_(v)
        self.optimizer.load_state_dict(state["optimizer"])


LEARNERS = {"maml": TRPOLearner, "fomaml": TRPOLearner, "pretrain": TRPOLearner, "oracle": TRPOLearner,
            "reptile": ReptileLearner, "pmaml": PMAMLLearner, "promp": ProMPLearner, "random": PolicyLearner}


def make_learner(config):
    return LEARNERS[config.algo](config)


def iteration_draws(config, iteration: int) -> tuple:
    """(tasks, sampler seed) of meta-iteration ``iteration``: a function of (config seed, iteration) alone."""
    tasks = RL_FAMILIES[config.task].sample_tasks(config.meta_batch, np.random.default_rng([config.seed, iteration]))
    return tasks, int(np.random.SeedSequence([config.seed, iteration]).generate_state(1)[0])


def _format(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _sampling_env_fn(config, workers: int, stack: ExitStack):
    """``make_env`` of the run, in this process (workers = 1) or spread over a ``SamplerPool``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if workers == 1:
        return make_env_fn(config)
    return stack.enter_context(SamplerPool(config.task, workers, oracle=config.algo == "oracle")).make_vec_env


def train(config, out, *, resume: bool = False, progress: bool = True, workers: int = 1, threads: int = 1):
    """Train ``config`` into run folder ``out``: config.json, metrics.csv (a row per meta-iteration) and
    checkpoint.pt (every ``checkpoint_every`` iterations and at the end). A non-finite parameter stops
    the run with FloatingPointError before it is saved, so the last checkpoint stays good.
    ``workers`` > 1 samples in that many processes (``rl.sampler.SamplerPool``): the same episodes,
    so the same run, and not part of the config. ``threads``: torch threads of this process, which
    adapts and takes the outer step while the workers wait (results agree with 1 thread up to
    floating-point rounding, not bit for bit)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    run = RunFolder(out, configs.to_dict(config), resume=resume)
    learner = make_learner(config)
    start, wall = 0, 0.0
    state = run.load_checkpoint() if resume else None
    if state is not None:
        learner.load_state_dict(state["learner"])
        start, wall = state["iteration"], state["wall_seconds"]
    run.start_metrics([*BASE_COLUMNS, *learner.columns], start)

    def save(iteration):
        run.save_checkpoint({"iteration": iteration, "wall_seconds": wall, "learner": learner.state_dict()})

    with ExitStack() as stack:
        make_env = _sampling_env_fn(config, workers, stack)
        stack.callback(torch.set_num_threads, torch.get_num_threads())
        torch.set_num_threads(threads)
        bar = tqdm(range(start, config.iterations), initial=start, total=config.iterations,
                   desc=f"{config.algo} {config.task}", disable=not progress)
        for iteration in bar:
            tasks, seed = iteration_draws(config, iteration)
            tic = time.perf_counter()
            metrics = learner.step(make_env(tasks, config.episodes_per_task), seed)
            wall += time.perf_counter() - tic
            done = iteration + 1
            learner.check(done)
            for name in ("pre_return", "post_return"):
                check_finite(f"the {name.replace('_', '-')} at iteration {done}", torch.tensor(metrics[name]))
            run.append_metrics({"iteration": done, "wall_seconds": round(wall, 3),
                                **{k: _format(metrics[k]) for k in (*BASE_COLUMNS[2:], *learner.columns)}})
            bar.set_postfix(pre=f"{metrics['pre_return']:.1f}", post=f"{metrics['post_return']:.1f}")
            if done % config.checkpoint_every == 0 or done == config.iterations:
                save(done)
    if config.iterations == 0 and state is None:
        save(0)
    return run.path


def held_out_tasks(config, n: int, seed: int) -> list:
    return RL_FAMILIES[config.task].sample_tasks(n, np.random.default_rng(seed))


def _protocol(learner, adapt_lr: float, episodes_per_task) -> dict:
    """The evaluation protocol's keywords for ``meta_rl.adaptation_path`` / ``meta_rl.evaluate``."""
    c = learner.config
    return {"make_env": make_env_fn(c), "adapt_lr": adapt_lr, "later_adapt_lr": LATER_STEP_FACTOR * adapt_lr,
            "episodes_per_task": episodes_per_task or c.eval_episodes, "horizon": c.horizon}


def adaptation_returns(learner, tasks, *, adapt_steps: int, adapt_lr: float, seed: int,
                       episodes_per_task=None) -> torch.Tensor:
    """Mean return after 0..K VPG steps (alpha, then alpha / 2), [tasks, samples, K + 1]
    (``meta_rl.evaluate`` for this run)."""
    return meta_rl.evaluate(learner.init, tasks, adapt_steps=adapt_steps, seed=seed,
                            samples=getattr(learner.config, "eval_samples", 1),
                            **_protocol(learner, adapt_lr, episodes_per_task))


def adapt(learner, tasks, *, adapt_steps: int, adapt_lr=None, seed: int = 0, episodes_per_task=None):
    """The run's policy adapted to each of ``tasks`` as the protocol adapts it (K VPG steps, alpha then
    alpha / 2; alpha defaults to the training inner step size): the ``meta_rl.AdaptationPath`` with
    phi_0..phi_K of every task (probabilistic MAML: of one sampled initialization) and the returns."""
    adapt_lr = learner.config.inner_lr if adapt_lr is None else adapt_lr
    return meta_rl.adaptation_path(learner.init, tasks, adapt_steps=adapt_steps, seed=seed,
                                   **_protocol(learner, adapt_lr, episodes_per_task))


def evaluate(learner, *, adapt_steps: int = 3, adapt_lr=None, n_tasks=None, episodes_per_task=None) -> dict:
    """The evaluation protocol (module docstring) as the dict that ``metarl-lite evaluate`` prints."""
    c = learner.config
    n_tasks, episodes_per_task = n_tasks or c.eval_tasks, episodes_per_task or c.eval_episodes
    result = {"metric": "return", "tasks": n_tasks, "episodes_per_task": episodes_per_task}
    if adapt_lr is None and c.algo in ("pretrain", "random") and adapt_steps > 0:
        validation = held_out_tasks(c, n_tasks, VALIDATION_SEED)
        scores = {}
        for lr in LR_GRID:
            try:
                score = adaptation_returns(learner, validation, adapt_steps=adapt_steps, adapt_lr=lr,
                                           seed=VALIDATION_SEED, episodes_per_task=episodes_per_task)[..., 1:].mean().item()
            except (FloatingPointError, ValueError):  # adaptation diverged: non-finite parameters, actions or returns
                score = -math.inf
            scores[lr] = score if math.isfinite(score) else -math.inf
        adapt_lr = max(scores, key=scores.get)
        result["adapt_lr_grid"] = {str(k): round(v, 3) for k, v in scores.items()}
    if adapt_lr is None:
        adapt_lr = 0.0 if c.algo == "oracle" else c.inner_lr
    returns = adaptation_returns(learner, held_out_tasks(c, n_tasks, TEST_SEED), adapt_steps=adapt_steps,
                                 adapt_lr=adapt_lr, seed=TEST_SEED, episodes_per_task=episodes_per_task)
    check_finite(f"the evaluation return with adapt lr {adapt_lr}", returns)
    per_task = returns.mean(1)
    half_width = 1.96 * per_task.std(0) / math.sqrt(n_tasks) if n_tasks > 1 else torch.zeros(adapt_steps + 1)
    result.update(adapt_lr=adapt_lr, later_adapt_lr=LATER_STEP_FACTOR * adapt_lr,
                  after_steps=[round(v, 3) for v in per_task.mean(0).tolist()],
                  ci95=[round(v, 3) for v in half_width.tolist()])
    if returns.shape[1] > 1:
        result["samples"] = returns.shape[1]
        result["spread"] = [round(v, 3) for v in returns.std(1).mean(0).tolist()]  # std across initializations
    if getattr(learner, "iteration", None) is not None:
        result["iteration"] = learner.iteration  # of the evaluated checkpoint
    rows = read_metrics(learner.run_path) if learner.run_path is not None else []  # wall-clock of training
    if rows:
        result["seconds_per_iteration"] = round(float(rows[-1]["wall_seconds"]) / int(rows[-1]["iteration"]), 3)
    return result


def load_learner(path):
    """The learner of a finished or partial run folder (remembers the folder in ``run_path`` and the
    iteration of its checkpoint in ``iteration``)."""
    config, state = load_run(path)
    learner = make_learner(config)
    learner.load_state_dict(state["learner"])
    learner.run_path, learner.iteration = Path(path), state["iteration"]
    return learner
