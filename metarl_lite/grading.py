"""Assignments: feedback a student can act on, and the student versions of ``solutions/``.

Feedback. The visible tests of the assignments call :func:`check_close` and
:func:`check_params_dict`. When a value is wrong they raise an ``AssertionError`` that says
what is wrong and where: the tensor (and the key of the parameter dict), its shape against the
expected shape, the entry with the largest error, the expected and the obtained value, and a
hint about the likely mistake, e.g.

    phi['0.weight'] has the expected shape (40, 1), but 40 of 40 entries differ; the largest
    error is at entry [3, 0]: expected 0.1234, got 0.5678 (tolerance rtol=1e-05, atol=1e-08).
    Hint: did you multiply by alpha?

Generation. ``python -m metarl_lite.grading generate SRC DST`` (``make exercises``) writes, for
every ``SRC/*.ipynb``, the student version ``DST/<same name>`` with nbgrader's own preprocessors,
run through nbconvert: the list that ``nbgrader generate_assignment`` runs, without ``SaveCells``
(which stores the cells in nbgrader's gradebook database). Solution regions
(``### BEGIN SOLUTION`` ... ``### END SOLUTION``) become ``raise NotImplementedError()``,
hidden tests (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``) disappear, outputs are
cleared, grade and read-only cells are locked and checksummed.
"""

import argparse
import sys
from pathlib import Path

import torch


def _returned(name: str, value, hint):
    """value, or an AssertionError when it is None (the student's function returned nothing)."""
    if value is None:
        _fail(f"{name} is None: does your function end with `return ...`?", hint)
    return value


def _tensor(name: str, value, hint) -> torch.Tensor:
    """value as a float64 tensor (detached), or an AssertionError that says what it is instead."""
    if not isinstance(_returned(name, value, hint), torch.Tensor):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            _fail(f"{name} should be a tensor, got {type(value).__name__}", hint)
    if value.is_complex() or value.dtype == torch.bool:
        _fail(f"{name} should be a real tensor, got dtype {value.dtype}", hint)
    return value.detach().to(torch.float64)


def _fail(message: str, hint):
    raise AssertionError(message + (f" Hint: {hint}" if hint else "")) from None


def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


def check_close(name: str, got, expected, *, hint: str | None = None, rtol: float = 1e-5, atol: float = 1e-8):
    """Pass silently when ``got`` equals ``expected`` entrywise up to |got - expected| <=
    atol + rtol |expected| (``torch.isclose``); otherwise raise an AssertionError naming the
    shapes, the number of wrong entries, the worst entry with both values, and ``hint``.

    ``got`` and ``expected`` are tensors (any float dtype, compared in float64), numbers or
    arrays; ``name`` is how the student's code calls the value, e.g. ``"phi['0.weight']"``.
    """
    expected = _tensor(f"the expected value of {name}", expected, None)
    got = _tensor(name, got, hint)
    if got.shape != expected.shape:
        transposed = got.dim() == 2 and got.shape == expected.shape[::-1]
        _fail(
            f"{name} has shape {_shape(got)}, expected {_shape(expected)}" + (" (transposed?)." if transposed else "."),
            hint,
        )
    wrong = ~torch.isclose(got, expected, rtol=rtol, atol=atol)
    if not wrong.any():
        return
    # The worst entry: the largest error relative to its tolerance (NaN and Inf count as worst).
    excess = ((got - expected).abs() / (atol + rtol * expected.abs())).nan_to_num(nan=torch.inf)
    worst = torch.where(wrong, excess, -1.0).argmax()
    values = f"expected {expected.flatten()[worst].item():.8g}, got {got.flatten()[worst].item():.8g}"
    tolerance = f" (tolerance rtol={rtol:g}, atol={atol:g})."
    if got.dim() == 0:
        _fail(f"{name}: {values}{tolerance}", hint)
    entry = [int(i) for i in torch.unravel_index(worst, got.shape)]
    _fail(
        f"{name} has the expected shape {_shape(got)}, but {int(wrong.sum())} of {got.numel()} entries differ; "
        f"the largest error is at entry {entry}: {values}{tolerance}",
        hint,
    )


def check_params_dict(got, expected: dict, *, name: str = "params", hint: str | None = None,
                      rtol: float = 1e-5, atol: float = 1e-8):
    """Check a dict of tensors (e.g. adapted parameters phi) against ``expected``: the same
    keys, then :func:`check_close` on every entry under the name ``name[key]``."""
    if not isinstance(_returned(name, got, hint), dict):
        _fail(f"{name} should be a dict of tensors keyed like {list(expected)}, got {type(got).__name__}", hint)
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    if missing or unexpected:
        keys = f"{name} has keys {list(got)}, expected {list(expected)}"
        _fail(f"{keys} (missing {missing}, unexpected {unexpected}).", hint)
    for key in expected:
        check_close(f"{name}[{key!r}]", got[key], expected[key], hint=hint, rtol=rtol, atol=atol)


def _student_preprocessors() -> list:
    """The preprocessors of ``nbgrader generate_assignment``, in its order, without SaveCells."""
    from nbgrader.converters.generate_assignment import GenerateAssignment
    from nbgrader.preprocessors import SaveCells

    return [p for p in GenerateAssignment.class_traits()["preprocessors"].default() if p is not SaveCells]


def student_version(path) -> str:
    """The student version of the solution notebook at ``path``, as notebook JSON text."""
    from nbconvert.exporters import NotebookExporter
    from traitlets.config import Config

    exporter = NotebookExporter(
        config=Config({"Exporter": {"default_preprocessors": []}}), preprocessors=_student_preprocessors()
    )
    text, _ = exporter.from_filename(str(path))
    return text


def generate(src, dst) -> list:
    """Write ``dst/NAME.ipynb``, the student version of each ``src/NAME.ipynb``; return the paths."""
    src, dst = Path(src), Path(dst)
    sources = sorted(src.glob("*.ipynb"))
    if not sources:
        raise ValueError(f"no notebooks (*.ipynb) in {src}; pass the folder of solution notebooks")
    if dst.resolve() == src.resolve():
        raise ValueError(f"destination {dst} is the source folder; the student versions need another folder")
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sources:
        try:
            text = student_version(path)
        except Exception as err:  # nbgrader raises RuntimeError, ValueError or jsonschema's ValidationError
            raise ValueError(f"{path}: {err}") from err
        out = dst / path.name
        out.write_text(text, encoding="utf-8")
        written.append(out)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metarl_lite.grading", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write the student version of every SRC/*.ipynb into DST")
    gen.add_argument("src", type=Path, help="folder of solution notebooks (with nbgrader markers)")
    gen.add_argument("dst", type=Path, help="folder for the student versions (created if missing)")
    args = parser.parse_args(argv)
    try:
        written = generate(args.src, args.dst)
    except ValueError as err:
        parser.exit(1, f"error: {err}\n")
    for path in written:
        print(f"wrote {path}")
    stale = sorted({p.name for p in args.dst.glob("*.ipynb")} - {p.name for p in written})
    for name in stale:
        print(f"warning: {args.dst / name} has no source in {args.src}; delete it if it is stale", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
