"""The assignments: solutions/ is well formed, exercises/ is its current student version, and the
student version fails exactly in its graded cells, with NotImplementedError."""

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
NOTEBOOKS = sorted(p.name for p in SOLUTIONS.glob("*.ipynb"))
KERNEL = "metarl-lite"


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_there_are_assignments():
    assert NOTEBOOKS, f"no solution notebooks in {SOLUTIONS}"


def test_committed_exercises_match_a_fresh_generation(tmp_path):
    # The command of `make exercises`, into a temporary folder.
    run = subprocess.run(
        [sys.executable, "-m", "metarl_lite.grading", "generate", str(SOLUTIONS), str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    committed = sorted(p.name for p in EXERCISES.glob("*.ipynb"))
    assert committed == NOTEBOOKS, f"exercises/ holds {committed}, solutions/ {NOTEBOOKS}; run `make exercises`"
    outdated = [name for name in NOTEBOOKS if (tmp_path / name).read_bytes() != (EXERCISES / name).read_bytes()]
    assert not outdated, f"exercises/{outdated} differ from their solutions; run `make exercises` and commit"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_notebook_is_a_well_formed_assignment(name):
    nb = nbformat.read(SOLUTIONS / name, as_version=4)
    kernelspec = nb.metadata.get("kernelspec", {})
    spec = (kernelspec.get("name"), kernelspec.get("display_name"), kernelspec.get("language"))
    assert spec == (KERNEL, KERNEL, "python"), f"{name}: kernelspec must be {KERNEL} (python), got {spec}"
    solutions = [c for c in nb.cells if nbgrader(c).get("solution")]
    graded = [c for c in nb.cells if nbgrader(c).get("grade")]
    assert solutions and graded, f"{name} needs solution cells and graded test cells"
    assert all(nbgrader(c)["points"] > 0 for c in graded)
    assert any("### BEGIN HIDDEN TESTS" in c.source for c in graded), f"{name} has no hidden tests"
    for cell in solutions:
        # Graded code defines functions, so the student version fails with NotImplementedError where it is called.
        body = ast.parse(cell.source).body
        assert cell.cell_type == "code" and all(isinstance(node, ast.FunctionDef) for node in body), (
            f"{name}: solution cell {nbgrader(cell)['grade_id']!r} must only define functions"
        )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exercise_hides_solutions_and_hidden_tests(name):
    nb = nbformat.read(EXERCISES / name, as_version=4)
    for cell in nb.cells:
        assert "BEGIN SOLUTION" not in cell.source and "HIDDEN TESTS" not in cell.source, cell.source
        if nbgrader(cell).get("solution"):
            assert "raise NotImplementedError()" in cell.source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exercise_fails_only_in_graded_cells_with_not_implemented_error(name):
    nb = nbformat.read(EXERCISES / name, as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL, allow_errors=True, timeout=600,
                            resources={"metadata": {"path": str(EXERCISES)}})
    client.execute()
    wrong = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        expected = ["NotImplementedError"] if nbgrader(cell).get("grade") else []
        if [e.ename for e in errors] != expected:
            where = nbgrader(cell).get("grade_id", f"cell {index}")
            got = [f"{e.ename}: {e.evalue}" for e in errors]
            wrong.append(f"{where}: expected {expected or 'no error'}, got {got or 'no error'}")
    assert not wrong, f"{name}:\n" + "\n".join(wrong)
