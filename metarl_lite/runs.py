"""Run folders: config.json, metrics.csv and checkpoint.pt, and the rules that protect them.

A folder whose config.json differs from the requested run is another run and is never
overwritten, except that a resumed run may ask for more iterations (it is then extended).
Metrics rows past the last checkpoint are dropped on resume, so a resumed run ends with
exactly the rows of an uninterrupted one.
"""

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from . import checkpoint, configs


class RunFolderError(RuntimeError):
    """The --out folder cannot be used for this run."""


def _differences(old: dict, new: dict) -> str:
    keys = sorted(set(old) | set(new), key=str)
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))


def extends(saved: dict, config: dict) -> bool:
    """Whether ``config`` is the run ``saved`` trained on for more iterations: nothing else differs,
    and no schedule depends on the total (Reptile's annealed outer step does)."""
    return (config["iterations"] > saved.get("iterations", config["iterations"]) and not config.get("anneal")
            and {**saved, "iterations": config["iterations"]} == config)


def as_current(saved: dict) -> dict:
    """A saved config through the current dataclass: a key that a newer version added takes its
    default, which reproduces what the older version did."""
    return configs.to_dict(configs.from_dict(saved))


def write_json(path: Path, data) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


class RunFolder:
    def __init__(self, path, config: dict, *, resume: bool = False):
        self.path = Path(path)
        self.config = config
        self.checkpoint_path = self.path / "checkpoint.pt"
        self.metrics_path = self.path / "metrics.csv"
        self.config_path = self.path / "config.json"
        self.extending = False  # config.json is rewritten with the new iterations at the first checkpoint
        if self.config_path.exists():
            saved = as_current(json.loads(self.config_path.read_text()))
            extendable = extends(saved, config)  # implies saved != config
            self.extending = resume and extendable
            if saved != config and not self.extending:
                hint = (f"pass --resume to train it on to {config['iterations']} iterations, " if extendable else
                        "resume it with the options that started it (its config.json), " if resume else "")
                raise RunFolderError(
                    f"{self.path} holds another run (config differs: {_differences(saved, config)}); "
                    f"{hint}choose another --out or delete {self.path}"
                )
            if self.checkpoint_path.exists() and not resume:
                raise RunFolderError(
                    f"{self.path} already holds this run; pass --resume to continue it, or choose another --out"
                )
        elif self.path.exists() and any(self.path.iterdir()):
            raise RunFolderError(f"{self.path} is not empty and holds no metarl-lite run; choose another --out")
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            write_json(self.config_path, config)

    def load_checkpoint(self):
        """The saved state, or None when there is none yet; checks it belongs to this run."""
        if not self.checkpoint_path.exists():
            return None
        state = checkpoint.load(self.checkpoint_path)
        saved = state.get("config", {})
        try:
            saved = as_current(saved)
        except ValueError:  # not a config of this version: compared as it is, and different
            pass
        if saved != self.config and not extends(saved, self.config):  # an extension's first checkpoint is due
            raise checkpoint.CheckpointError(
                f"{self.checkpoint_path} belongs to another run ({_differences(saved, self.config)}); "
                f"delete it or choose another --out"
            )
        return state

    def save_checkpoint(self, state: dict) -> None:
        if self.extending:  # config.json first: killed in between, it extends the old checkpoint
            write_json(self.config_path, self.config)
            self.extending = False
        checkpoint.save(self.checkpoint_path, {"config": self.config, **state})

    def start_metrics(self, columns, after_iteration: int) -> None:
        """Open metrics.csv, keeping only the rows up to ``after_iteration`` (the checkpoint's)."""
        self.columns = list(columns)
        rows = []
        if after_iteration > 0 and self.metrics_path.exists():
            rows = [r for r in read_metrics(self.path) if int(r["iteration"]) <= after_iteration]
        with self.metrics_path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows(rows)

    def append_metrics(self, row: dict) -> None:
        with self.metrics_path.open("a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow(row)
            f.flush()
            os.fsync(f.fileno())


def read_config(path) -> dict:
    """config.json of an existing run folder, with a clear error when there is none."""
    config_path = Path(path) / "config.json"
    if not config_path.is_file():
        raise RunFolderError(f"{path} holds no run (no config.json); train first with metarl-lite train --out {path}")
    return json.loads(config_path.read_text())


def read_metrics(path) -> list:
    """The rows of metrics.csv, as dicts of strings. A last line without its newline, one that a running
    (or killed) job was still writing, is left out."""
    text = (Path(path) / "metrics.csv").read_text()
    return list(csv.DictReader(io.StringIO(text[: text.rfind("\n") + 1])))


def read_column(path, name: str) -> np.ndarray:
    """One column of metrics.csv as floats, an entry per logged iteration (e.g. "post_return")."""
    rows = read_metrics(path)
    if rows and name not in rows[0]:
        raise ValueError(f"{path}/metrics.csv has no column {name!r}; its columns: {', '.join(rows[0])}")
    return np.array([float(row[name]) for row in rows])


def load_run(path) -> tuple:
    """(config, checkpoint state) of a finished or partial run folder; a clear error when it has no
    checkpoint yet or the checkpoint belongs to another run."""
    config = configs.from_dict(read_config(path))
    state = RunFolder(path, configs.to_dict(config), resume=True).load_checkpoint()
    if state is None:
        raise RunFolderError(f"{path} has no checkpoint yet; train first (metarl-lite train ... --out {path})")
    return config, state
