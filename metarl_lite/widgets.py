"""Figures for the chapters: pure functions compute what is drawn, thin widget builders wrap them.

Each widget is an ``ipywidgets.interactive`` over a pure function that the tests call directly:

- :func:`adapted_fit` -- a regression network before and after k gradient steps of size alpha on
  K support points of one task (MAML's inner loop, :func:`metarl_lite.meta.adapt`);
  :func:`adaptation_widget` draws it for several initializations (e.g. MAML vs pretrained) with
  sliders for alpha (log scale) and k.
- :func:`adaptation_curves` -- the mean support and query loss over many tasks after 0..k steps.
- :func:`platipus_samples` -- functions phi = theta - alpha grad L_tr(theta) for theta drawn from
  PLATIPUS's prior p(theta | D_tr); :func:`platipus_widget` draws them with sliders for K and the
  number of samples.
- :func:`adapted_trajectories` -- the walks of a 2D-navigation policy toward several goals before
  and after k VPG steps of size alpha (MAML-RL's inner loop, :func:`metarl_lite.rl.meta_rl.sample_path`);
  :func:`navigation_widget` draws them with sliders for alpha (log scale) and k.
- :func:`mujoco_adaptation` -- the return of a MuJoCo run's policy on several tasks after 0..K VPG
  steps (the evaluation protocol, :func:`metarl_lite.rl.training.adapt`);
  :func:`mujoco_adaptation_widget` draws it with sliders for alpha (log scale) and K.

The interactive's callback returns the pure result (kept in ``widget.result``) and puts the figure
into ``widget.out`` as a PNG, which works the same in JupyterLab and in a headless test.
"""

import io

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image

from .meta import adapt
from .meta._checks import check_step_size, check_steps
from .nn import mlp, mse_loss
from .regression import adaptation_losses
from .rl import meta_rl, policies, training
from .tasks import navigation

GRID_POINTS = 200  # points of the dense grid on which functions are drawn and the query MSE is taken


def _input_grid(task, dtype) -> torch.Tensor:
    """A dense grid [GRID_POINTS, 1] over the task's whole input range (x_range or query_range)."""
    x_range = getattr(task, "x_range", None) or getattr(task, "query_range", None)
    if x_range is None:
        raise ValueError(
            f"{type(task).__name__} has no x_range or query_range; widgets draw 1-D regression tasks "
            "such as metarl_lite.tasks.Sinusoid or Ambiguous"
        )
    return torch.linspace(*x_range, GRID_POINTS, dtype=dtype)[:, None]


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().reshape(-1).numpy()


def adapted_fit(params: dict, task, *, lr: float, steps: int, shots: int, seed: int) -> dict:
    """A network before and after ``steps`` gradient steps of size ``lr`` on ``shots`` points of ``task``.

    The support set D_tr is ``task.sample(shots, default_rng(seed))`` (the same points for every
    ``params`` given the same seed) and phi = adapt(mse_loss, params, D_tr, lr=lr, steps=steps). The
    query loss is the mean squared error against the true function on the dense grid, a
    Monte-Carlo estimate of E_x (f_phi(x) - y(x))^2 for x uniform on the input range.

    Returns a dict of NumPy arrays and floats: ``x``, ``y_true``, ``before``, ``after`` (each
    [GRID_POINTS]), ``support_x``, ``support_y`` ([shots]), ``support_mse_before``,
    ``support_mse_after``, ``query_mse_before``, ``query_mse``.
    """
    dtype = next(iter(params.values())).dtype
    support = task.sample(shots, np.random.default_rng(seed), dtype=dtype)
    x = _input_grid(task, dtype)
    y_true = task(x)
    # Only the values of phi are drawn, so first-order adaptation (no graph through the steps) suffices.
    phi = adapt(mse_loss, params, support, lr=lr, steps=steps, first_order=True)
    with torch.no_grad():
        before, after = mlp(params, x), mlp(phi, x)
        return {
            "x": _numpy(x),
            "y_true": _numpy(y_true),
            "before": _numpy(before),
            "after": _numpy(after),
            "support_x": _numpy(support[0]),
            "support_y": _numpy(support[1]),
            "support_mse_before": mse_loss(params, support).item(),
            "support_mse_after": mse_loss(phi, support).item(),
            "query_mse_before": ((before - y_true) ** 2).mean().item(),
            "query_mse": ((after - y_true) ** 2).mean().item(),
        }


def adaptation_curves(params: dict, tasks, *, lr: float, steps: int) -> dict:
    """Mean support and query MSE over ``tasks`` after 0, 1, ..., ``steps`` gradient steps of size
    ``lr`` on each task's support set, the curves of the chapters' adaptation plots.

    A task is a (support, query) pair of (x, y) batches, all tasks of the same shapes; the inner
    loops of all tasks run as one ``torch.func.vmap`` (:func:`metarl_lite.regression.adaptation_losses`).
    Returns {"support": array [steps + 1], "query": array [steps + 1]}.
    """
    lr, steps = check_step_size("lr", lr), check_steps("steps", steps)
    tasks = list(tasks)
    thetas = {k: p.detach().expand(len(tasks), 1, *p.shape) for k, p in params.items()}
    losses = adaptation_losses(thetas, tasks, lr=lr, steps=steps)
    return {name: value.mean(0).numpy() for name, value in losses.items()}


def _draw_task(ax, drawn: dict, title: str) -> None:
    """The true function, the support points, labels, and y-limits that keep the truth in view
    (a diverging adaptation, e.g. alpha too large, leaves the frame instead of rescaling it)."""
    ax.plot(drawn["x"], drawn["y_true"], color="black", linewidth=2, label="true function")
    ax.scatter(drawn["support_x"], drawn["support_y"], color="black", zorder=3, label="support points")
    span = np.abs(np.concatenate([drawn["y_true"], drawn["support_y"]])).max()
    ax.set_ylim(-1.5 * span - 0.5, 1.5 * span + 0.5)
    ax.set_xlabel("input x")
    ax.set_ylabel("output y")
    ax.set_title(title)


def _legend_below(ax) -> None:
    """The legend under the axis, where it hides no curve."""
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2, frameon=False)


def plot_adapted_fits(ax, fits: dict, title: str = "") -> None:
    """Draw {name: adapted_fit(...)} on one axis: the true function, the support points, and per
    name the prediction before (dashed) and after (solid) adaptation, the query MSE in the legend."""
    _draw_task(ax, next(iter(fits.values())), title)
    for (name, fit), color in zip(fits.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        ax.plot(fit["x"], fit["before"], linestyle="--", color=color, label=f"{name}, before")
        ax.plot(fit["x"], fit["after"], color=color, label=f"{name}, after (query MSE {fit['query_mse']:.2f})")
    _legend_below(ax)


def _show_figure(out: ipywidgets.Output, fig) -> None:
    """Replace what ``out`` shows with a PNG of ``fig`` and close ``fig``.

    Setting ``out.outputs`` directly (rather than capturing ``plt.show()``) works without a
    running kernel too, so tests can check that the output area received the figure.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    with out.hold_sync():
        out.outputs = ()
        out.append_display_data(Image(data=buffer.getvalue(), format="png"))


class FigureInteractive(ipywidgets.interactive):
    """ipywidgets.interactive over ``draw(**values) -> (result, figure)``: ``result`` goes to
    ``self.result``, the figure to ``self.out``; one slider per keyword in ``sliders``."""

    def __init__(self, draw, **sliders):
        self._draw = draw
        super().__init__(self._update_figure, clear_output=False, **sliders)

    def _update_figure(self, **values):
        result, fig = self._draw(**values)
        _show_figure(self.out, fig)
        return result


def step_size_and_steps_widget(draw, *, lr: float, steps: int, max_steps: int, log10_range=(-3, 0),
                               lr_name: str = "lr", steps_label: str = "k") -> FigureInteractive:
    """A ``FigureInteractive`` over ``draw(<lr_name>, steps)`` with a log-scale slider for the step size
    alpha (10 ** log10_range) and one for the number of steps (0 .. max_steps): the course's widgets."""
    return FigureInteractive(
        draw,
        **{lr_name: ipywidgets.FloatLogSlider(value=lr, base=10, min=log10_range[0], max=log10_range[1], step=0.1,
                                              description="alpha")},
        steps=ipywidgets.IntSlider(value=steps, min=0, max=max_steps, description=f"{steps_label} (steps)"),
    )


def adaptation_widget(params_by_name: dict, task, *, lr: float = 0.01, steps: int = 1, shots: int = 5,
                      seed: int = 0, max_steps: int = 20) -> ipywidgets.interactive:
    """Sliders for the inner step size alpha (log scale) and the number of steps k; redraws
    :func:`adapted_fit` for every initialization in ``params_by_name`` on one axis.

    ``widget.children`` is [alpha slider, k slider, output]; ``widget.result`` is
    {name: adapted_fit(...)} for the current slider values.
    """
    if not params_by_name:
        raise ValueError("params_by_name is empty; pass e.g. {'MAML': maml_params, 'pretrained': pretrained_params}")

    def draw(lr, steps):
        fits = {
            name: adapted_fit(params, task, lr=lr, steps=steps, shots=shots, seed=seed)
            for name, params in params_by_name.items()
        }
        fig, ax = plt.subplots(figsize=(7, 4))
        plot_adapted_fits(ax, fits, title=f"K = {shots} shots, alpha = {lr:.3g}, k = {steps} steps")
        return fits, fig

    return step_size_and_steps_widget(draw, lr=lr, steps=steps, max_steps=max_steps, log10_range=(-4, 0))


def platipus_samples(model, task, *, shots: int, n_samples: int, seed: int) -> dict:
    """``n_samples`` functions phi = theta - alpha grad L_tr(theta), theta ~ p(theta | D_tr), on a grid.

    ``model`` is a :class:`metarl_lite.meta.Platipus`; D_tr is ``task.sample(shots,
    default_rng(seed))``; the draws use torch's generator seeded with ``seed`` inside
    ``torch.random.fork_rng``, so the result depends on the arguments only and the global
    generator is left as it was.

    Returns a dict of NumPy arrays: ``x``, ``y_true`` ([GRID_POINTS]), ``support_x``,
    ``support_y`` ([shots]), ``samples`` ([n_samples, GRID_POINTS]).
    """
    support = task.sample(shots, np.random.default_rng(seed))
    x = _input_grid(task, support[0].dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        adapted = model.sample_adapted(support, n_samples)
    with torch.no_grad():
        samples = [_numpy(mlp(phi, x, model.activation)) for phi in adapted]
    return {
        "x": _numpy(x),
        "y_true": _numpy(task(x)),
        "support_x": _numpy(support[0]),
        "support_y": _numpy(support[1]),
        "samples": np.stack(samples) if samples else np.empty((0, GRID_POINTS)),
    }


def plot_platipus_samples(ax, drawn: dict, title: str = "") -> None:
    """Draw :func:`platipus_samples`'s output: true function, support points, sampled functions."""
    _draw_task(ax, drawn, title)
    for i, sample in enumerate(drawn["samples"]):
        ax.plot(drawn["x"], sample, color="tab:blue", alpha=0.5, label="sampled adapted functions" if i == 0 else None)
    _legend_below(ax)


def platipus_widget(model, task_family, *, seed: int, n_tasks: int = 10) -> ipywidgets.interactive:
    """Sliders for the number of shots K (1..10), of samples (1..20) and which of ``n_tasks`` tasks
    (drawn from ``task_family`` with ``seed``); redraws :func:`platipus_samples`.

    ``widget.children`` is [K slider, samples slider, task slider, output]; ``widget.result`` is
    the current :func:`platipus_samples` dict.
    """
    tasks = task_family.sample_tasks(n_tasks, np.random.default_rng(seed))

    def draw(shots, n_samples, task):
        drawn = platipus_samples(model, tasks[task], shots=shots, n_samples=n_samples, seed=seed)
        fig, ax = plt.subplots(figsize=(7, 4))
        plot_platipus_samples(ax, drawn, title=f"task {task}: K = {shots} shots, {n_samples} samples")
        return drawn, fig

    return FigureInteractive(
        draw,
        shots=ipywidgets.IntSlider(value=5, min=1, max=10, description="K (shots)"),
        n_samples=ipywidgets.IntSlider(value=10, min=1, max=20, description="samples"),
        task=ipywidgets.IntSlider(value=0, min=0, max=n_tasks - 1, description="task"),
    )


def adapted_trajectories(theta: dict, goals, *, inner_lr: float = 0.1, steps: int = 1, seed: int = 0,
                         episodes_per_goal: int = 20) -> dict:
    """Where a 2D-navigation policy walks before and after k VPG steps toward each of ``goals``.

    ``theta`` is a policy dict (``metarl_lite.rl.policies.init_policy(2, 2, ...)``, e.g. a trained
    MAML-RL initialization); ``goals`` a list of [x, y]. For every goal, MAML-RL's inner loop
    (:func:`metarl_lite.rl.meta_rl.sample_path`, the same seed gives the same episodes): sample
    ``episodes_per_goal`` episodes with phi_0 = theta, take one VPG step of size alpha =
    ``inner_lr`` on them to phi_1, sample again, ..., up to phi_k, k = ``steps``. The pre-update
    episodes depend on ``seed`` alone, not on alpha or k.

    Returns a dict of NumPy arrays: ``goals`` [n, 2]; ``positions`` [k + 1, n, episodes_per_goal,
    H + 1, 2], the walk s_0 = (0, 0), s_1, ..., s_H of every episode sampled with phi_j (s_{t+1} = s_t
    + 0.1 clip(a_t, -1, 1); an episode that reached its goal stays there); ``returns`` [k + 1, n],
    the mean return of each goal's episodes after j steps.
    """
    inner_lr, steps = check_step_size("inner_lr", inner_lr), check_steps("steps", steps)
    env = navigation.make_vec_env([{"goal": goal} for goal in goals], episodes_per_goal)
    n = len(env.tasks)
    path = meta_rl.sample_path(env, policies.stack([meta_rl.detached(theta)] * n), inner_lr=inner_lr,
                               inner_steps=steps, horizon=navigation.HORIZON, seed=seed)
    positions = []
    for episodes in path.episodes:
        moves = navigation.velocity(episodes.actions) * episodes.masks[..., None]
        walk = torch.cat([torch.zeros_like(moves[:, :1]), moves.cumsum(dim=1)], dim=1)  # [E, H + 1, 2]
        positions.append(walk.reshape(n, episodes_per_goal, *walk.shape[1:]).numpy())
    return {"goals": np.array([task["goal"] for task in env.tasks]), "positions": np.stack(positions),
            "returns": path.returns().numpy()}


NAVIGATION_LIMIT = 1.0  # the drawn square [-1, 1]^2; goals lie in [-0.5, 0.5]^2


def plot_trajectories(ax, drawn: dict, step: int, *, episodes: int = 5, title: str = "") -> None:
    """Draw the first ``episodes`` walks of every goal after ``step`` inner steps from
    :func:`adapted_trajectories`'s output, one colour per goal (a star marks it, the legend gives
    the goal's mean return), the start as a black dot."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, goal in enumerate(drawn["goals"]):
        color = colors[i % len(colors)]
        for walk in drawn["positions"][step, i, :episodes]:
            ax.plot(walk[:, 0], walk[:, 1], color=color, alpha=0.6, linewidth=1)
        ax.scatter(*goal, marker="*", s=250, color=color, edgecolor="black", zorder=3,
                   label=f"goal {i}: return {drawn['returns'][step, i]:.1f}")
    ax.scatter(0, 0, color="black", zorder=3)
    ax.set_xlim(-NAVIGATION_LIMIT, NAVIGATION_LIMIT)
    ax.set_ylim(-NAVIGATION_LIMIT, NAVIGATION_LIMIT)
    ax.set_aspect("equal")
    ax.set_xlabel("position x")
    ax.set_ylabel("position y")
    ax.set_title(title)
    _legend_below(ax)


def navigation_widget(theta: dict, goals, *, inner_lr: float = 0.1, steps: int = 1, seed: int = 0,
                      max_steps: int = 5, episodes_per_goal: int = 20) -> ipywidgets.interactive:
    """Sliders for the inner step size alpha (log scale) and the number of VPG steps k; redraws
    :func:`adapted_trajectories` of ``theta`` toward ``goals``: before adaptation (left) and after
    k steps (right).

    ``widget.children`` is [alpha slider, k slider, output]; ``widget.result`` is the current
    :func:`adapted_trajectories` dict.
    """
    if not len(goals):
        raise ValueError("goals is empty; pass e.g. [[0.3, -0.2], [-0.4, 0.1]]")

    def draw(inner_lr, steps):
        drawn = adapted_trajectories(theta, goals, inner_lr=inner_lr, steps=steps, seed=seed,
                                     episodes_per_goal=episodes_per_goal)
        fig, axes = plt.subplots(1, 2, figsize=(11, 5.5))
        plot_trajectories(axes[0], drawn, 0, title="before adaptation")
        plot_trajectories(axes[1], drawn, steps, title=f"after k = {steps} steps of alpha = {inner_lr:.3g}")
        fig.tight_layout()
        return drawn, fig

    return step_size_and_steps_widget(draw, lr=inner_lr, steps=steps, max_steps=max_steps, log10_range=(-3, 0.5),
                                      lr_name="inner_lr")


def _task_label(task: dict) -> str:
    """A short legend entry for an RL task dict: ``direction -1``, ``velocity 1.3``, ``goal [0.1, -0.2]``."""
    return ", ".join(f"{key} {value:g}" if isinstance(value, (int, float)) else f"{key} {value}"
                     for key, value in task.items())


def mujoco_adaptation(learner, tasks, *, lr: float, steps: int, seed: int = 0, episodes_per_task=None) -> dict:
    """The mean return of each of ``tasks`` after 0, 1, ..., K VPG steps from a run's policy.

    ``learner`` comes from :func:`metarl_lite.rl.training.load_learner` (any RL run; or
    ``training.make_learner(config)`` for an untrained one), ``tasks`` are task dicts of its family.
    The steps follow the evaluation protocol (:func:`metarl_lite.rl.training.adapt`): the first of
    size alpha = ``lr``, the later ones of size alpha / 2, each on ``episodes_per_task`` fresh episodes
    per task (default: the run's ``eval_episodes``) of the run's horizon H. The pre-update episodes
    depend on ``seed`` alone, not on alpha or K.

    Returns a dict: ``returns`` [K + 1, n_tasks] (row j: the mean return sum_t r_t of the episodes
    sampled with phi_j), ``labels`` (one per task), ``lr`` and ``later_lr`` (the step sizes taken),
    ``episodes_per_task``.
    """
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks is empty; pass e.g. [{'direction': -1}, {'direction': 1}]")
    episodes_per_task = episodes_per_task or learner.config.eval_episodes
    path = training.adapt(learner, tasks, adapt_steps=steps, adapt_lr=lr, seed=seed,
                          episodes_per_task=episodes_per_task)
    return {"returns": path.returns().numpy(), "labels": [_task_label(task) for task in tasks], "lr": float(lr),
            "later_lr": training.LATER_STEP_FACTOR * float(lr), "episodes_per_task": episodes_per_task}


def plot_mujoco_adaptation(ax, drawn: dict, title: str = "") -> None:
    """Draw :func:`mujoco_adaptation`'s output: the return against the number of steps, a line per
    task and the mean over tasks (black, dashed)."""
    returns = drawn["returns"]
    steps = np.arange(len(returns))
    for column, label in zip(returns.T, drawn["labels"]):
        ax.plot(steps, column, marker="o", label=label)
    if returns.shape[1] > 1:
        ax.plot(steps, returns.mean(1), color="black", linestyle="--", marker="s", label="mean over tasks")
    ax.set_xticks(steps)
    ax.set_xlabel("VPG steps at test time (alpha, then alpha / 2)")
    ax.set_ylabel(f"mean return over {drawn['episodes_per_task']} episodes")
    ax.set_title(title)
    _legend_below(ax)


def mujoco_adaptation_widget(learner, tasks, *, lr=None, steps: int = 1, seed: int = 0, max_steps: int = 3,
                             episodes_per_task=None) -> ipywidgets.interactive:
    """Sliders for the step size alpha (log scale; default the run's inner step size) and the number
    of VPG steps K; redraws :func:`mujoco_adaptation` of ``learner``'s policy on ``tasks``.

    ``widget.children`` is [alpha slider, K slider, output]; ``widget.result`` is the current
    :func:`mujoco_adaptation` dict. Each redraw samples (K + 1) * ``episodes_per_task`` episodes per task.
    """
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks is empty; pass e.g. [{'direction': -1}, {'direction': 1}]")
    lr = learner.config.inner_lr if lr is None else lr

    def draw(lr, steps):
        drawn = mujoco_adaptation(learner, tasks, lr=lr, steps=steps, seed=seed, episodes_per_task=episodes_per_task)
        fig, ax = plt.subplots(figsize=(7, 4))
        plot_mujoco_adaptation(ax, drawn, title=f"{learner.config.task}: alpha = {lr:.3g}, K = {steps} steps")
        return drawn, fig

    return step_size_and_steps_widget(draw, lr=lr, steps=steps, max_steps=max_steps, steps_label="K")
