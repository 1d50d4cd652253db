"""Every hyperparameter of a run, in one dataclass per algorithm (saved as config.json).

Named instances: ``make_config(algo, task, name, shots=..., seed=...)`` with name "quick" (CI-sized,
seconds) or "paper" (the published setting). Regression defaults follow Finn et al. 2017, Sec. 5.1:
MLP 1-40-40-1 ReLU, alpha = 0.01, one inner step, meta-batch 25, Adam with beta = 1e-3, 70k iterations.
RL defaults follow DESIGN.md: a (64, 64) tanh Gaussian policy (pytorch-maml-rl's; the MAML paper used
(100, 100) ReLU), one VPG step with alpha = 0.1 on 20 episodes per task, 40 tasks, TRPO outer step
with delta = 0.01, 500 meta-iterations; named task settings override them (``TASK_OVERRIDES``).
"""

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Optional

from .tasks import RL_FAMILIES

ALGOS = ("maml", "fomaml", "reptile", "pmaml", "promp", "pretrain", "random", "oracle")
REGRESSION_TASKS = ("sinusoid",)
RL_TASKS = tuple(RL_FAMILIES)
TASKS = REGRESSION_TASKS + RL_TASKS
RL_ONLY = ("promp", "oracle")
CONFIG_NAMES = ("quick", "paper")


@dataclass(frozen=True)
class RegressionConfig:
    """Shared by every regression algorithm."""

    algo: str
    task: str = "sinusoid"
    config: str = "paper"
    shots: int = 5  # K: support points per task (and query points during training)
    seed: int = 0
    hidden: tuple = (40, 40)
    iterations: int = 70_000
    meta_batch: int = 25
    inner_lr: float = 0.01  # alpha
    inner_steps: int = 1
    outer_lr: float = 1e-3  # beta (Adam)
    log_every: int = 500
    checkpoint_every: int = 5_000
    eval_tasks: int = 100  # validation tasks scored at each log step (MSE after one step)


@dataclass(frozen=True)
class MAMLConfig(RegressionConfig):
    first_order: bool = False


@dataclass(frozen=True)
class ReptileConfig(RegressionConfig):
    """Reptile: k = inner_steps SGD steps per task (one per minibatch; here each minibatch is the
    task's 2K points), outer step beta annealed linearly to 0 as in Nichol et al. 2018."""

    inner_steps: int = 5
    inner_lr: float = 0.02
    outer_lr: float = 0.1
    anneal: bool = True


@dataclass(frozen=True)
class PlatipusConfig(RegressionConfig):
    kl_weight: float = 1.0
    noise_std: float = 0.3
    init_std: float = 0.05
    eval_samples: int = 10  # predictions are the mean of this many sampled adapted functions


@dataclass(frozen=True)
class PretrainConfig(RegressionConfig):
    """Joint training on all tasks: minimize the mean loss of one network over the meta-batch."""


@dataclass(frozen=True)
class RandomConfig(RegressionConfig):
    """An untrained initialization, saved so that evaluation treats it like every other method."""

    iterations: int = 0


@dataclass(frozen=True)
class RLConfig:
    """Shared by every RL algorithm. One meta-iteration samples ``episodes_per_task`` episodes of
    H = ``horizon`` steps for each of ``meta_batch`` tasks, with every set of parameters it adapts."""

    algo: str
    task: str = "nav2d"
    config: str = "paper"
    seed: int = 0
    hidden: tuple = (64, 64)
    policy_std: float = 1.0  # sigma of the Gaussian policy at initialization (its log_std = log sigma)
    iterations: int = 500
    meta_batch: int = 40  # tasks per meta-iteration
    episodes_per_task: int = 20
    horizon: int = 100  # H (set from the task family)
    inner_lr: float = 0.1  # alpha of the VPG inner step
    inner_steps: int = 1  # k
    checkpoint_every: int = 10
    eval_tasks: int = 40  # held-out tasks of the evaluation protocol
    eval_episodes: int = 40  # episodes per task and adaptation step at evaluation (MAML's test scripts)


@dataclass(frozen=True)
class TRPOConfig(RLConfig):
    """MAML-RL (k inner VPG steps, TRPO on the post-update policies); with k = 0 plain TRPO on the
    tasks' mean return, which is how the pretrained and the oracle baselines train."""

    first_order: bool = False
    estimator: str = "loglik"  # how the inner loss's log-probabilities enter the meta-gradient
    max_kl: float = 0.01  # delta
    fisher_tasks: Optional[int] = None  # tasks in the Fisher-vector products (None: all)
    cg_iters: int = 10
    damping: float = 1e-5
    backtrack_ratio: float = 0.5  # the line search's step shrink factor
    rescale_step: bool = False  # size the step by its exact KL (``trpo.trpo_step``), for subsampled Fisher products


@dataclass(frozen=True)
class ReptileRLConfig(RLConfig):
    """Reptile-RL: k VPG steps per task, then theta += beta * mean_i (phi_k,i - theta)."""

    inner_steps: int = 3
    outer_lr: float = 1.0  # beta


@dataclass(frozen=True)
class PMAMLRLConfig(RLConfig):
    """Probabilistic MAML-RL: Adam on the mean and log std of N(mu, sigma^2) over policy parameters."""

    outer_lr: float = 3e-3  # Adam
    prior_std: float = 0.1  # sigma_0 (and the initial sigma)
    kl_weight: float = 1e-3  # beta of the KL to N(stopgrad(mu), sigma_0^2)
    max_kl: Optional[float] = None  # delta of a trust region on the mean policy's step (None: Adam's step as is)
    surrogate_test: bool = False  # the trust region also requires the step to raise the objective (TRPO's test)
    estimator: str = "loglik"
    eval_samples: int = 5  # sampled initializations per held-out task


@dataclass(frozen=True)
class ProMPConfig(RLConfig):
    """ProMP (Rothfuss et al. 2019): Adam steps on PPO's clipped post-update surrogate with an inner
    KL penalty, the settings of the authors' MuJoCo runs."""

    outer_lr: float = 1e-3  # Adam
    outer_steps: int = 5  # optimizer steps per sampled meta-batch
    clip: float = 0.3  # PPO's epsilon
    inner_kl_weight: float = 5e-4  # eta


@dataclass(frozen=True)
class RandomRLConfig(RLConfig):
    iterations: int = 0


CLASSES = {
    "maml": MAMLConfig, "fomaml": MAMLConfig, "reptile": ReptileConfig, "pmaml": PlatipusConfig,
    "pretrain": PretrainConfig, "random": RandomConfig,
}
RL_CLASSES = {
    "maml": TRPOConfig, "fomaml": TRPOConfig, "reptile": ReptileRLConfig, "pmaml": PMAMLRLConfig,
    "promp": ProMPConfig, "pretrain": TRPOConfig, "oracle": TRPOConfig, "random": RandomRLConfig,
}
QUICK = {"iterations": 1_500, "log_every": 100, "checkpoint_every": 500, "eval_tasks": 50}
RL_QUICK = {"iterations": 20, "meta_batch": 10, "episodes_per_task": 10, "checkpoint_every": 5, "eval_tasks": 10,
            "eval_episodes": 10}
# Trained jointly on all tasks by TRPO without an inner step (k = 0). They sample (k + 1) = 2x fewer
# episodes per task and iteration than MAML; twice the tasks give them MAML's budget of environment steps.
JOINT = ("pretrain", "oracle")
OVERRIDES = {
    ("fomaml", "quick"): {"first_order": True},
    ("fomaml", "paper"): {"first_order": True},
    ("random", "quick"): {"iterations": 0},
    ("reptile", "paper"): {"iterations": 30_000},
}
RL_OVERRIDES = {
    ("fomaml", "quick"): {"first_order": True},
    ("fomaml", "paper"): {"first_order": True},
    ("random", "quick"): {"iterations": 0},
    ("random", "paper"): {"iterations": 0},  # also where the task's setting names a number of iterations
}
# The MAML paper's 2D navigation (cbfinn/maml_rl maml_trpo_point.py and the run test_maml_point.py
# loads): alpha = 0.5, 20 tasks of 20 episodes per meta-iteration (we train 200 iterations, the
# script 100); Fisher-vector products on 5 of the tasks (they dominate the TRPO step).
# MuJoCo (MAML paper Sec. 5.3 / pytorch-maml-rl): alpha = 0.1, 40 tasks of 20 episodes, 500 iterations (the
# defaults); Fisher-vector products on 10 of the 40 tasks, which cuts the TRPO step ~3x. That Fisher matrix
# is too flat along the step it gives (the full step's KL is 1.7-2.4 delta on HalfCheetahDir,
# benchmarks/trpo_step_quality.py), so the line search halves most steps. Sizing the step by its exact
# KL instead (rescale_step) learned faster early but ended worse on HalfCheetahDir (README, Speed), so
# the paper configs keep the halving line search their reference runs were trained with.
TASK_OVERRIDES = {
    ("nav2d", "paper"): {"inner_lr": 0.5, "meta_batch": 20, "fisher_tasks": 5, "iterations": 200},
    **{(task, "paper"): {"fisher_tasks": 10} for task in RL_FAMILIES if task != "nav2d"},
}


def is_rl(task: str) -> bool:
    return task in RL_TASKS


def make_config(algo: str, task: str = "sinusoid", name: str = "paper", **overrides):
    """The named configuration for (algo, task), with keyword overrides such as shots=10, seed=1."""
    if algo not in ALGOS:
        raise ValueError(f"unknown --algo {algo!r}; choose one of {', '.join(ALGOS)}")
    if task not in TASKS:
        raise ValueError(f"unknown --task {task!r}; choose one of {', '.join(TASKS)}")
    if name not in CONFIG_NAMES:
        raise ValueError(f"unknown --config {name!r}; choose one of {', '.join(CONFIG_NAMES)}")
    if algo in RL_ONLY and not is_rl(task):
        raise ValueError(f"--algo {algo} needs an RL task; choose one of {', '.join(RL_TASKS)}")
    if is_rl(task):
        cls, quick, algo_overrides = RL_CLASSES[algo], RL_QUICK, RL_OVERRIDES
        base = {"horizon": RL_FAMILIES[task].HORIZON, **TASK_OVERRIDES.get((task, name), {})}
    else:
        cls, quick, algo_overrides, base = CLASSES[algo], QUICK, OVERRIDES, {}
    names = {f.name for f in fields(cls)}
    base = {"algo": algo, "task": task, "config": name, **(quick if name == "quick" else {}), **base,
            **algo_overrides.get((algo, name), {})}
    if is_rl(task) and algo in JOINT:
        base.update(inner_steps=0, meta_batch=2 * base.get("meta_batch", cls.meta_batch))
    return with_overrides(cls(**{k: v for k, v in base.items() if k in names}), overrides)


def with_overrides(config, overrides: dict):
    known = {f.name for f in fields(config)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        hint = {"shots": " (--shots applies to regression tasks only)",
                "episodes_per_task": " (--episodes-per-task applies to RL tasks only)",
                "policy_std": " (--policy-std applies to RL tasks only)",
                "prior_std": " (--prior-std applies to --algo pmaml on RL tasks only)",
                "max_kl": " (--max-kl applies to RL tasks trained by TRPO or --algo pmaml only)",
                "surrogate_test": " (--surrogate-test applies to --algo pmaml on RL tasks only; TRPO always tests"
                                  " its surrogate)"}.get(unknown[0], "")
        raise ValueError(f"unknown config keys {unknown} for --algo {config.algo}{hint}; known keys: {sorted(known)}")
    config = replace(config, **overrides)
    for key in ("shots", "iterations", "meta_batch", "episodes_per_task", "horizon", "eval_tasks", "eval_episodes"):
        value = getattr(config, key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "iterations" else 1):
            raise ValueError(f"{key} must be an integer >= {0 if key == 'iterations' else 1}, got {value!r}")
    for key in ("policy_std", "prior_std", "max_kl"):
        value = getattr(config, key, None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 < value < math.inf):
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"{key} ({flag}) must be a positive finite number, got {value!r}")
    surrogate_test = getattr(config, "surrogate_test", False)
    if not isinstance(surrogate_test, bool):
        raise ValueError(f"surrogate_test (--surrogate-test) must be True or False, got {surrogate_test!r}")
    if surrogate_test and config.max_kl is None:
        raise ValueError("--surrogate-test adds a test to the line search of --max-kl; set --max-kl too")
    if config.algo == "random" and config.iterations:
        raise ValueError(f"--algo random saves an untrained initialization: it takes no iterations "
                         f"(got {config.iterations}); leave out --iterations")
    return config


def to_dict(config) -> dict:
    d = asdict(config)
    d["hidden"] = list(d["hidden"])
    return d


def from_dict(d: dict):
    """The config saved in a run folder's config.json (a clear error for unknown keys)."""
    d = dict(d)
    cls = (RL_CLASSES if is_rl(d.get("task")) else CLASSES).get(d.get("algo"))
    if cls is None:
        raise ValueError(f"config.json names unknown algo {d.get('algo')!r} for task {d.get('task')!r}; "
                         f"choose one of {', '.join(ALGOS)}")
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"config.json has unknown keys {unknown} for algo {d['algo']}; was it written by another version?")
    d["hidden"] = tuple(d.get("hidden", cls.hidden))
    return cls(**d)
