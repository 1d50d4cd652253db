"""The results table of the README, generated from run folders (never typed in by hand).

Rows: every run folder under a results root (e.g. results/sinusoid/maml_5shot) with its held-out
query MSE after 1, 5 and 10 adaptation steps and the 95% half-width, next to the MAML paper's
numbers (Finn et al. 2017, 5-shot sinusoid) where the paper reports them.
"""

import json
from pathlib import Path

from .runs import read_config, read_metrics

PAPER_5SHOT = {"maml": (0.67, 0.38, 0.35), "pretrain": (2.41, 2.23, 2.19)}  # MSE after 1 / 5 / 10 steps
STEPS = (1, 5, 10)
ORDER = ("maml", "fomaml", "reptile", "pmaml", "pretrain", "random")
BEGIN, END = "<!-- results table: begin (metarl-lite table results/sinusoid) -->", "<!-- results table: end -->"


def _row(folder: Path) -> str:
    config = read_config(folder)
    name = f"`{folder.name}`"
    evaluation = folder / "evaluation.json"
    rows = read_metrics(folder) if (folder / "metrics.csv").exists() else []
    done = int(rows[-1]["iteration"]) if rows else 0
    if not evaluation.exists() or done < config["iterations"]:
        return f"| {name} | {config['shots']} | | training: {done} of {config['iterations']} iterations | | | |"
    result = json.loads(evaluation.read_text())
    cells = [f"{result['after_steps'][k]:.2f} ± {result['ci95'][k]:.2f}" for k in STEPS]
    paper = PAPER_5SHOT.get(config["algo"]) if config["shots"] == 5 else None
    reference = " / ".join(f"{v:.2f}" for v in paper) if paper else ""
    return f"| {name} | {config['shots']} | {result['adapt_lr']:g} | {' | '.join(cells)} | {reference} |"


def results_table(root) -> str:
    """Markdown table of every run folder under ``root``, ordered by shots then algorithm."""
    folders = [p for p in Path(root).iterdir() if (p / "config.json").exists()]
    key = lambda p: (read_config(p)["shots"], ORDER.index(read_config(p)["algo"]), p.name)  # noqa: E731
    header = ["| run | K | alpha | MSE after 1 step | after 5 steps | after 10 steps | paper (1 / 5 / 10) |",
              "|---|---|---|---|---|---|---|"]
    return "\n".join(header + [_row(p) for p in sorted(folders, key=key)])


def readme_table(readme) -> str:
    """The table between the README's markers."""
    text = Path(readme).read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme} has no results markers ({BEGIN} ... {END})")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def update_readme(readme, root) -> None:
    """Replace the README's table with the one generated from ``root``."""
    text = Path(readme).read_text()
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    Path(readme).write_text(f"{before}{BEGIN}\n{results_table(root)}\n{END}{after}")
