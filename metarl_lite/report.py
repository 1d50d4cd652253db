"""The README's results tables, generated from run folders (never typed in by hand).

One table per results root (results/sinusoid, results/nav2d, ...), between the README markers
``markers(root)``. Regression rows: held-out query MSE after 1, 5 and 10 steps with the 95%
half-width, next to the MAML paper's 5-shot numbers. RL rows: held-out mean return after 0..3
policy-gradient steps, the MAML paper's row (Fig. 4 / 5), the normalized score after one step
(R_1 - R_random,0) / (R_oracle - R_random,0) with our own random and oracle runs (the paper's in
parentheses; marked * while the oracle is an evaluated checkpoint of an unfinished run), and the
wall-clock seconds per meta-iteration.
"""

import json
from pathlib import Path

import numpy as np

from .configs import ALGOS, is_rl
from .runs import read_config, read_metrics

PAPER_5SHOT = {"maml": (0.67, 0.38, 0.35), "pretrain": (2.41, 2.23, 2.19)}  # MSE after 1 / 5 / 10 steps
STEPS = (1, 5, 10)
# Finn et al. 2017, Fig. 4 (2D nav) and Fig. 5: mean return after 0 / 1 / 2 / 3 steps; the oracle's return.
PAPER_RL = {
    "nav2d": {"maml": (-40.4, -11.7, -3.3, -3.2), "pretrain": (-40.8, -19.7, -11.7, -8.5),
              "random": (-82.7, -58.0, -53.8, -46.8), "oracle": (-2.29,)},
    "halfcheetah-vel": {"maml": (-129.5, -78.6, -66.6, -60.8), "pretrain": (-158.0, -135.4, -128.5, -133.6),
                        "random": (-254.8, -254.3, -246.8, -230.8), "oracle": (-54.5,)},
    "halfcheetah-dir": {"maml": (-50.7, 293.2, 313.5, 315.7), "pretrain": (-43.0, -24.8, -12.9, 19.6),
                        "random": (-35.7, 21.8, 62.3, 86.2), "oracle": (442.7,)},
}
# Not compared: the paper's Ant-Dir (MAML 8.7 / 499.2 / 500.7 / 499.1, pretrained 3.2 / 1.3 / 6.5 / 6.9, random
# 3.1 / 9.3 / 16.0 / 26.1, oracle 524.8) drew the direction forward or backward; our ant-dir draws it on the
# unit circle (ProMP's AntRandDirec2D), a harder task distribution, so its table has no paper column values.
END = "<!-- results table: end -->"


def markers(root) -> tuple:
    """The README lines around the table of ``root`` (named by its folder, e.g. results/nav2d)."""
    return f"<!-- results table: begin (metarl-lite table results/{Path(root).name}) -->", END


def run_evaluation(folder) -> tuple:
    """(evaluation.json as a dict, note) of the run in ``folder``: the note is "" for a finished run;
    an unfinished one has no evaluation (note: its training progress) unless its checkpoint was
    evaluated, which says at which iteration (RL runs, e.g. "at iteration 230 of 500")."""
    folder = Path(folder)
    config = read_config(folder)
    rows = read_metrics(folder) if (folder / "metrics.csv").exists() else []
    done = int(rows[-1]["iteration"]) if rows else 0
    file = folder / "evaluation.json"
    result = json.loads(file.read_text()) if file.exists() else None
    evaluated = result.get("iteration", done) if result is not None else None  # older files: the finished run
    if result is not None and done >= config["iterations"] and evaluated >= config["iterations"]:
        return result, ""
    if result is not None and "iteration" in result:
        return result, f"at iteration {evaluated} of {config['iterations']}"
    if done >= config["iterations"]:
        return None, f"not evaluated yet: metarl-lite evaluate {folder}"
    return None, f"training: {done} of {config['iterations']} iterations"


def _regression_row(folder: Path, config: dict, result, progress: str) -> str:
    if result is None:
        return f"| `{folder.name}` | {config['shots']} | | {progress} | | | |"
    cells = [f"{result['after_steps'][k]:.2f} ± {result['ci95'][k]:.2f}" for k in STEPS]
    paper = PAPER_5SHOT.get(config["algo"]) if config["shots"] == 5 else None
    reference = " / ".join(f"{v:.2f}" for v in paper) if paper else ""
    return f"| `{folder.name}` | {config['shots']} | {result['adapt_lr']:g} | {' | '.join(cells)} | {reference} |"


def normalized_score(returns, random0: float, oracle: float):
    """(R - R_random,0) / (R_oracle - R_random,0), elementwise: 0 is an untrained policy before
    adaptation, 1 a policy that sees the task (a float, or an array for an array of returns)."""
    return (np.asarray(returns, dtype=float) - random0) / (oracle - random0)


def scored_returns(root, algos) -> tuple:
    """(after, ci95, score) of the evaluated RL runs ``root/<algo>`` and ``root/random``, ``root/oracle``:
    dicts {algo: array over steps 0..K} of the mean return, its 95% half-width over tasks and
    ``normalized_score`` against random's return before adaptation and oracle's."""
    results = {algo: json.loads((Path(root) / algo / "evaluation.json").read_text())
               for algo in dict.fromkeys((*algos, "random", "oracle"))}
    after = {algo: np.array(result["after_steps"]) for algo, result in results.items()}
    ci95 = {algo: np.array(result["ci95"]) for algo, result in results.items()}
    return after, ci95, {algo: normalized_score(after[algo], after["random"][0], after["oracle"][0]) for algo in after}


def _rl_row(folder: Path, config: dict, result, progress: str, ours: dict, provisional: bool) -> str:
    if result is None:
        return f"| `{folder.name}` | | {progress} | | | | | | |"
    name = f"`{folder.name}` ({progress})" if progress else f"`{folder.name}`"
    cells = [f"{m:.1f} ± {h:.1f}" for m, h in zip(result["after_steps"], result["ci95"])][:4]
    cells += [""] * (4 - len(cells))
    paper = PAPER_RL.get(config["task"], {})
    reference = " / ".join(f"{v:g}" for v in paper.get(config["algo"], ()))
    score = ""
    if "random" in ours and "oracle" in ours and len(result["after_steps"]) > 1:
        ours_1 = normalized_score(result["after_steps"][1], ours["random"], ours["oracle"])
        score = f"{ours_1:.2f}" + ("*" if provisional else "")
        if config["algo"] in paper and "random" in paper and "oracle" in paper and len(paper[config["algo"]]) > 1:
            score += f" ({normalized_score(paper[config['algo']][1], paper['random'][0], paper['oracle'][0]):.2f})"
    seconds = result.get("seconds_per_iteration", "")
    return f"| {name} | {result['adapt_lr']:g} | {' | '.join(cells)} | {reference} | {score} | {seconds} |"


def results_table(root) -> str:
    """Markdown table of every run folder under ``root`` (one task), ordered by algorithm."""
    folders = [p for p in Path(root).iterdir() if (p / "config.json").exists()]
    configs = {p: read_config(p) for p in folders}
    key = lambda p: (configs[p].get("shots", 0), ALGOS.index(configs[p]["algo"]), p.name)  # noqa: E731
    folders = sorted(folders, key=key)
    evaluations = {p: run_evaluation(p) for p in folders}  # (evaluation.json, note)
    if not any(is_rl(c["task"]) for c in configs.values()):
        header = ["| run | K | alpha | MSE after 1 step | after 5 steps | after 10 steps | paper (1 / 5 / 10) |",
                  "|---|---|---|---|---|---|---|"]
        return "\n".join(header + [_regression_row(p, configs[p], *evaluations[p]) for p in folders])
    ours, partial = {}, []  # R_random,0 and R_oracle of our own evaluated runs, for the normalized score
    for p in folders:
        result, progress = evaluations[p]
        if result is not None and configs[p]["algo"] in ("random", "oracle"):
            ours[configs[p]["algo"]] = result["after_steps"][0]
            partial += [f"the {configs[p]['algo']} is {progress}"] if progress else []
    header = ["| run | alpha | return after 0 steps | 1 step | 2 steps | 3 steps | paper (0 / 1 / 2 / 3) "
              "| score after 1 step (paper) | s / iteration |",
              "|---|---|---|---|---|---|---|---|---|"]
    provisional = bool(partial) and {"random", "oracle"} <= set(ours)
    footnote = [f"\n\\* Provisional: {' and '.join(partial)}."] if provisional else []
    return "\n".join(header + [_rl_row(p, configs[p], *evaluations[p], ours, provisional) for p in folders] + footnote)


def readme_table(readme, root) -> str:
    """The table of ``root`` between the README's markers."""
    begin, end = markers(root)
    text = Path(readme).read_text()
    if begin not in text or end not in text.split(begin, 1)[1]:
        raise ValueError(f"{readme} has no results markers for {root} ({begin} ... {end})")
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


def update_readme(readme, root) -> None:
    """Replace the README's table of ``root`` with the one generated from it."""
    begin, end = markers(root)
    readme_table(readme, root)  # the markers exist
    text = Path(readme).read_text()
    before, rest = text.split(begin, 1)
    after = rest.split(end, 1)[1]
    Path(readme).write_text(f"{before}{begin}\n{results_table(root)}\n{end}{after}")
