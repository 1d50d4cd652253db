"""Every hyperparameter of a run, in one dataclass per algorithm (saved as config.json).

Named instances: ``make_config(algo, task, name, shots=..., seed=...)`` with name "quick" (CI-sized,
seconds) or "paper" (the published setting). Regression defaults follow Finn et al. 2017, Sec. 5.1:
MLP 1-40-40-1 ReLU, alpha = 0.01, one inner step, meta-batch 25, Adam with beta = 1e-3, 70k iterations.
"""

from dataclasses import asdict, dataclass, fields, replace

ALGOS = ("maml", "fomaml", "reptile", "pmaml", "pretrain", "random")
TASKS = ("sinusoid",)
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


CLASSES = {
    "maml": MAMLConfig, "fomaml": MAMLConfig, "reptile": ReptileConfig, "pmaml": PlatipusConfig,
    "pretrain": PretrainConfig, "random": RandomConfig,
}
QUICK = {"iterations": 1_500, "log_every": 100, "checkpoint_every": 500, "eval_tasks": 50}
OVERRIDES = {
    ("fomaml", "quick"): {"first_order": True},
    ("fomaml", "paper"): {"first_order": True},
    ("random", "quick"): {"iterations": 0},
    ("reptile", "paper"): {"iterations": 30_000},
}


def make_config(algo: str, task: str = "sinusoid", name: str = "paper", **overrides) -> RegressionConfig:
    """The named configuration for (algo, task), with keyword overrides such as shots=10, seed=1."""
    if algo not in ALGOS:
        raise ValueError(f"unknown --algo {algo!r}; choose one of {', '.join(ALGOS)}")
    if task not in TASKS:
        raise ValueError(f"unknown --task {task!r}; choose one of {', '.join(TASKS)}")
    if name not in CONFIG_NAMES:
        raise ValueError(f"unknown --config {name!r}; choose one of {', '.join(CONFIG_NAMES)}")
    cls = CLASSES[algo]
    base = {"algo": algo, "task": task, "config": name, **(QUICK if name == "quick" else {})}
    config = cls(**{k: v for k, v in base.items() if k in {f.name for f in fields(cls)}})
    config = replace(config, **OVERRIDES.get((algo, name), {}))
    return with_overrides(config, overrides)


def with_overrides(config, overrides: dict):
    known = {f.name for f in fields(config)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown config keys {unknown} for --algo {config.algo}; known keys: {sorted(known)}")
    config = replace(config, **overrides)
    if config.shots < 1:
        raise ValueError(f"--shots must be >= 1, got {config.shots}")
    return config


def to_dict(config) -> dict:
    d = asdict(config)
    d["hidden"] = list(d["hidden"])
    return d


def from_dict(d: dict) -> RegressionConfig:
    """The config saved in a run folder's config.json (a clear error for unknown keys)."""
    d = dict(d)
    cls = CLASSES.get(d.get("algo"))
    if cls is None:
        raise ValueError(f"config.json names unknown algo {d.get('algo')!r}; choose one of {', '.join(ALGOS)}")
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"config.json has unknown keys {unknown} for algo {d['algo']}; was it written by another version?")
    d["hidden"] = tuple(d.get("hidden", cls.hidden))
    return cls(**d)
