"""The `metarl-lite` command: train, evaluate, plot and tabulate runs.

    metarl-lite train --algo maml --task sinusoid --config paper --shots 5 --out results/sinusoid/maml_5shot
    metarl-lite evaluate results/sinusoid/maml_5shot --adapt-steps 10 --json
    metarl-lite train --algo maml --task nav2d --config paper --out results/nav2d/maml
    metarl-lite evaluate results/nav2d/maml --adapt-steps 3 --json
    metarl-lite plot results/sinusoid/maml_5shot results/sinusoid/pretrain_5shot --out curves.png
    metarl-lite table results/sinusoid --update-readme README.md
    metarl-lite render results/halfcheetah-dir/maml --adapt-steps 2 --out cheetah.mp4
    metarl-lite demo --out demo
"""

import argparse
import json
import sys
from pathlib import Path

from . import configs, seed_everything
from .checkpoint import CheckpointError
from .runs import RunFolderError, read_config, write_json

EXPECTED_ERRORS = (ValueError, RunFolderError, CheckpointError, FloatingPointError)


def _runner(task: str):
    """The module that trains and evaluates runs of ``task``: regression, or rl.training."""
    if configs.is_rl(task):
        from .rl import training

        return training
    from . import regression

    return regression


def _train(args):
    flags = ("shots", "iterations", "meta_batch", "episodes_per_task", "policy_std", "prior_std", "max_kl",
             "surrogate_test")
    overrides = {k: getattr(args, k) for k in flags if getattr(args, k) is not None}
    config = configs.make_config(args.algo, args.task, args.config, seed=args.seed, **overrides)
    seed_everything(args.seed)
    options = {"workers": args.workers, "threads": args.threads} if configs.is_rl(config.task) else {}
    for flag in ("workers", "threads"):
        if getattr(args, flag) != 1 and not options:
            raise ValueError(f"--{flag} applies to RL tasks only")
    path = _runner(config.task).train(config, args.out, resume=args.resume, progress=not args.quiet, **options)
    shots = f", {config.shots}-shot" if hasattr(config, "shots") else ""
    print(f"trained {config.algo} on {config.task} ({config.config}{shots}) -> {path}")


def _evaluate(args):
    seed_everything(0)
    task = read_config(args.run).get("task")
    runner = _runner(task)
    learner = runner.load_learner(args.run)
    if configs.is_rl(task):
        if args.shots is not None:
            raise ValueError(f"--shots applies to regression runs only; {args.run} is an RL run on {task}")
        result = runner.evaluate(learner, adapt_steps=3 if args.adapt_steps is None else args.adapt_steps,
                                 adapt_lr=args.adapt_lr, n_tasks=args.tasks)
        what = f"{result['episodes_per_task']} episodes per step"
    else:
        result = runner.evaluate(learner, adapt_steps=10 if args.adapt_steps is None else args.adapt_steps,
                                 adapt_lr=args.adapt_lr, shots=args.shots, n_tasks=args.tasks or 600)
        what = f"{result['shots']}-shot"
    write_json(Path(args.run) / "evaluation.json", result)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.run}: {result['metric']} over {result['tasks']} held-out tasks, {what}, "
              f"adapt lr {result['adapt_lr']}")
        for k, (m, h) in enumerate(zip(result["after_steps"], result["ci95"])):
            print(f"  after {k:2d} steps: {m:.4f} +- {h:.4f}")


def _plot(args):
    from .plotting import plot_runs

    plot_runs(args.runs, args.out)
    print(f"wrote {args.out}")


def _render(args):
    from .render import render_grid, render_policy

    learner, task = None, args.task
    if args.run is not None:
        from .rl import policies, training

        config = configs.from_dict(read_config(args.run))
        if not configs.is_rl(config.task):
            raise ValueError(f"{args.run} is a {config.task} run; render shows RL policies")
        if task is not None and task != config.task:
            raise ValueError(f"{args.run} was trained on {config.task}, not --task {task}")
        if config.algo == "oracle":
            raise ValueError("an oracle policy observes its task; render shows policies of the plain observation")
        learner, task = training.load_learner(args.run), config.task
    if task is None:
        raise ValueError("name the task with --task (or give a run folder)")
    if args.adapt_steps:
        if learner is None:
            raise ValueError("--adapt-steps adapts a trained policy; give a run folder")
        shown = training.held_out_tasks(learner.config, 1, args.seed)
        path = training.adapt(learner, shown, adapt_steps=args.adapt_steps, seed=args.seed)
        (before,), (after,) = (policies.unstack(phi) for phi in (path.params[0], path.params[-1]))
        panels = [(before, shown[0], "before"), (after, shown[0], f"after {args.adapt_steps} steps")]
        result = render_grid(task, [panels], args.out, seed=args.seed)
        print(f"wrote {result['path']}: task {shown[0]}, before | after {args.adapt_steps} steps; episode return "
              f"{result['returns'][0][0]:.1f} | {result['returns'][0][1]:.1f} (mean over "
              f"{learner.config.eval_episodes} episodes: {path.returns()[0, 0]:.1f} | {path.returns()[-1, 0]:.1f})")
        return
    params = None
    if learner is not None:
        params = learner.init if isinstance(learner.init, dict) else learner.init.mu  # pmaml: the mean init
    result = render_policy(task, params, args.out, seed=args.seed)
    print(f"wrote {result['path']}: {result['steps']} steps of task {result['task']}, return {result['return']:.1f}")


def _demo(args):
    from .demo import run_demo

    seed_everything(0)
    run_demo(args.out, run=args.run, adapt_steps=args.adapt_steps, episodes=args.episodes,
             nav2d_iterations=args.nav2d_iterations, progress=not args.quiet)


def _table(args):
    from . import report

    if args.update_readme:
        report.update_readme(args.update_readme, args.root)
    print(report.results_table(args.root))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metarl-lite", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="meta-train a run into a folder (config.json, metrics.csv, checkpoint.pt)")
    train.add_argument("--algo", required=True, choices=configs.ALGOS)
    train.add_argument("--task", required=True, choices=configs.TASKS)
    train.add_argument("--config", default="quick", choices=configs.CONFIG_NAMES)
    train.add_argument("--shots", type=int, help="K, support points per task (default: the config's)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, type=Path, help="run folder")
    train.add_argument("--iterations", type=int,
                       help="meta-iterations (default: the config's); with --resume, more than the run's extends it")
    train.add_argument("--meta-batch", type=int,
                       help="tasks per meta-iteration (default: the config's; in RL the pretrained and oracle "
                            "baselines' default is twice MAML's, which gives them its environment steps)")
    train.add_argument("--episodes-per-task", type=int,
                       help="RL: episodes per task and policy in a meta-iteration (default: the config's)")
    train.add_argument("--policy-std", type=float,
                       help="RL: sigma of the Gaussian policy at initialization (default: the config's, 1); "
                            "a smaller one explores less")
    train.add_argument("--prior-std", type=float,
                       help="RL, --algo pmaml: sigma_0 of the distribution over initializations, its prior and "
                            "initial sigma (default: the config's, 0.1)")
    train.add_argument("--max-kl", type=float,
                       help="RL: delta, the bound on KL(pi_old || pi_new) of an outer step: TRPO's trust region "
                            "(default 0.01), or for --algo pmaml a line search on its mean policy's Adam step "
                            "(default: none)")
    train.add_argument("--surrogate-test", action="store_true", default=None,
                       help="RL, --algo pmaml with --max-kl: keep a step of the line search only if it also raises "
                            "the objective on the iteration's batch, as TRPO's does")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out "
                       "(with the same --config and options that started it)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--workers", type=int, default=1,
                       help="RL: sample in this many processes (the same run, faster on several cores)")
    train.add_argument("--threads", type=int, default=1,
                       help="RL: torch threads of the adaptation and outer step (2 on 2 cores with --workers 2 "
                            "halves the TRPO step; the last bits of the results then differ from 1 thread)")
    train.set_defaults(func=_train)

    ev = sub.add_parser("evaluate", help="adapt on held-out tasks; writes DIR/evaluation.json")
    ev.add_argument("run", type=Path)
    ev.add_argument("--adapt-steps", type=int, help="K adaptation steps (default: 10 for regression, 3 for RL)")
    ev.add_argument("--adapt-lr", type=float, help="alpha for adaptation (default: the training alpha; "
                                                   "for pretrain/random the best of a grid on validation tasks)")
    ev.add_argument("--shots", type=int, help="K support points, regression only (default: the run's)")
    ev.add_argument("--tasks", type=int, help="number of held-out tasks (default: 600 for regression, "
                                              "the run's eval_tasks, 40, for RL)")
    ev.add_argument("--json", action="store_true", help="print the result as one JSON line")
    ev.set_defaults(func=_evaluate)

    plot = sub.add_parser("plot", help="learning and adaptation curves of one or more runs")
    plot.add_argument("runs", nargs="+", type=Path)
    plot.add_argument("--out", type=Path, default=Path("runs.png"))
    plot.set_defaults(func=_plot)

    render = sub.add_parser("render", help="a video (mp4 or gif) of a trained or random policy on a MuJoCo task")
    render.add_argument("run", nargs="?", type=Path, help="run folder (default: an untrained policy)")
    render.add_argument("--task", choices=configs.RL_TASKS, help="the task family (default: the run's)")
    render.add_argument("--out", required=True, type=Path, help="FILE.mp4 or FILE.gif")
    render.add_argument("--seed", type=int, default=0, help="draws the task and the episode")
    render.add_argument("--adapt-steps", type=int, default=0,
                        help="show the run's policy before | after this many policy-gradient steps on the task")
    render.set_defaults(func=_render)

    demo = sub.add_parser("demo", help="a minute of fast adaptation: HalfCheetahDir both ways, then nav2d training")
    demo.add_argument("--out", type=Path, default=Path("demo"), help="folder for the figure, the video and the run")
    demo.add_argument("--run", type=Path, default=Path("results/halfcheetah-dir/maml"), help="the MAML run to adapt")
    demo.add_argument("--adapt-steps", type=int, default=2)
    demo.add_argument("--episodes", type=int, default=40, help="episodes per task and adaptation step")
    demo.add_argument("--nav2d-iterations", type=int, default=20)
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)

    table = sub.add_parser("table", help="markdown table of the evaluated runs under a results folder")
    table.add_argument("root", type=Path)
    table.add_argument("--update-readme", type=Path, metavar="README", help="also rewrite the table in README")
    table.set_defaults(func=_table)
    return parser


def _check_counts(args):
    for name in ("adapt_steps", "tasks", "shots", "workers", "threads", "episodes", "nav2d_iterations",
                 "meta_batch", "episodes_per_task"):
        value = getattr(args, name, None)
        if value is not None and value < (0 if name == "adapt_steps" else 1):
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} must be >= {0 if name == 'adapt_steps' else 1}, got {value}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_counts(args)
        args.func(args)
    except EXPECTED_ERRORS as err:
        print(f"metarl-lite: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
