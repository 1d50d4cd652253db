"""metarl_lite.grading: feedback messages that name what is wrong, and student versions made by nbgrader."""

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from metarl_lite.grading import check_close, check_params_dict, generate, main


def failure(check, *args, **kwargs) -> str:
    """The AssertionError message of a check that must fail."""
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    return str(info.value)


def test_check_close_passes_within_tolerance_and_across_dtypes():
    expected = torch.linspace(-1, 1, 40, dtype=torch.float64).reshape(40, 1)
    check_close("phi", expected * (1 + 1e-7), expected)
    check_close("phi", expected.float(), expected, rtol=1e-6, atol=1e-7)
    check_close("kl", 0.5, torch.tensor(0.5))
    check_close("phi", expected.clone().requires_grad_(), expected)


def test_check_close_message_names_entry_values_and_hint():
    expected = torch.linspace(-1, 1, 40, dtype=torch.float64).reshape(40, 1)
    got = expected.clone()
    got[3, 0] += 0.5
    got[7, 0] += 0.1  # smaller error: the message reports entry [3, 0]
    message = failure(check_close, "phi['0.weight']", got, expected, hint="did you multiply by alpha?")
    assert message == (
        f"phi['0.weight'] has the expected shape (40, 1), but 2 of 40 entries differ; the largest error is at "
        f"entry [3, 0]: expected {expected[3, 0].item():.8g}, got {got[3, 0].item():.8g} "
        f"(tolerance rtol=1e-05, atol=1e-08). Hint: did you multiply by alpha?"
    )


def test_check_close_reports_nan_as_the_worst_entry():
    expected = torch.ones(2, 3)
    got = expected.clone()
    got[0, 0] = 5.0
    got[1, 2] = float("nan")
    message = failure(check_close, "g", got, expected)
    assert "entry [1, 2]: expected 1, got nan" in message
    assert "Hint" not in message


def test_check_close_scalar_message_has_values_and_no_entry():
    message = failure(check_close, "kl", torch.tensor(0.25), torch.tensor(0.75), hint="sum, not mean")
    assert message == "kl: expected 0.75, got 0.25 (tolerance rtol=1e-05, atol=1e-08). Hint: sum, not mean"


def test_check_close_shape_mismatch_names_both_shapes_and_spots_a_transpose():
    expected = torch.zeros(40, 1)
    assert failure(check_close, "phi['0.weight']", torch.zeros(1, 40), expected) == (
        "phi['0.weight'] has shape (1, 40), expected (40, 1) (transposed?)."
    )
    assert failure(check_close, "phi['0.weight']", torch.zeros(40), expected, hint="keep [out, in]") == (
        "phi['0.weight'] has shape (40,), expected (40, 1). Hint: keep [out, in]"
    )


def test_check_close_says_what_came_back_instead_of_a_tensor():
    assert "phi is None: does your function end with `return ...`?" in failure(check_close, "phi", None, torch.zeros(2))
    assert "phi should be a tensor, got str" in failure(check_close, "phi", "0.5", torch.zeros(2))
    assert "phi should be a tensor, got dict" in failure(check_close, "phi", {"a": 1}, torch.zeros(2))


def test_check_params_dict_names_the_key_that_differs():
    expected = {"0.weight": torch.zeros(3, 2), "0.bias": torch.zeros(3)}
    got = {"0.weight": torch.zeros(3, 2), "0.bias": torch.tensor([0.0, 2.0, 0.0])}
    message = failure(check_params_dict, got, expected, name="phi", hint="subtract, don't add")
    assert message.startswith("phi['0.bias'] has the expected shape (3,), but 1 of 3 entries differ")
    assert "entry [1]: expected 0, got 2" in message
    assert message.endswith("Hint: subtract, don't add")
    check_params_dict({k: v.clone() for k, v in expected.items()}, expected)


def test_check_params_dict_names_missing_and_unexpected_keys():
    expected = {"0.weight": torch.zeros(1), "0.bias": torch.zeros(1)}
    message = failure(check_params_dict, {"0.weight": torch.zeros(1), "0_bias": torch.zeros(1)}, expected, name="phi")
    assert message == (
        "phi has keys ['0.weight', '0_bias'], expected ['0.weight', '0.bias'] "
        "(missing ['0.bias'], unexpected ['0_bias'])."
    )
    assert failure(check_params_dict, [torch.zeros(1)], expected, name="phi").startswith(
        "phi should be a dict of tensors keyed like ['0.weight', '0.bias'], got list"
    )
    assert "phi is None" in failure(check_params_dict, None, expected, name="phi")


def nbgrader_cell(cell, **spec):
    cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False, "schema_version": 3, **spec}
    return cell


def solution_notebook(mark_solution=True):
    """A tiny assignment: instructions, a read-only setup cell, a solution cell, a test cell with hidden tests."""
    solution = new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION")
    solution.outputs = [nbformat.v4.new_output("stream", name="stdout", text="left over\n")]
    solution.execution_count = 3
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Doubling"),
            nbgrader_cell(new_code_cell("import math"), locked=True, grade_id="setup"),
            nbgrader_cell(solution, **({"solution": True, "grade_id": "double"} if mark_solution else {})),
            nbgrader_cell(
                new_code_cell(
                    "assert double(1) == 2\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n### END HIDDEN TESTS"
                ),
                grade=True, locked=True, grade_id="test_double", points=2,
            ),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "metarl-lite", "display_name": "metarl-lite", "language": "python"}
    return nb


def test_generate_writes_the_student_version_with_nbgrader(tmp_path):
    src, dst = tmp_path / "solutions", tmp_path / "exercises"
    src.mkdir()
    nbformat.write(solution_notebook(), src / "01_double.ipynb")
    assert generate(src, dst) == [dst / "01_double.ipynb"]
    nb = nbformat.read(dst / "01_double.ipynb", as_version=4)
    markdown, setup, solution, test = nb.cells
    assert solution.source == "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert solution.outputs == [] and solution.execution_count is None
    assert test.source == "assert double(1) == 2"
    assert (setup.metadata.editable, setup.metadata.deletable) == (False, False)
    assert (test.metadata.editable, test.metadata.deletable) == (False, False)
    assert solution.metadata.deletable is False and "editable" not in solution.metadata
    assert all(len(c.metadata.nbgrader.checksum) == 32 for c in (setup, solution, test))
    assert "nbgrader" not in markdown.metadata
    first = (dst / "01_double.ipynb").read_bytes()
    generate(src, dst)
    assert (dst / "01_double.ipynb").read_bytes() == first, "generation must be deterministic"


def test_generate_rejects_a_solution_region_outside_a_solution_cell(tmp_path):
    nbformat.write(solution_notebook(mark_solution=False), tmp_path / "bad.ipynb")
    with pytest.raises(ValueError, match=r"bad\.ipynb: Solution region detected in a non-solution cell"):
        generate(tmp_path, tmp_path / "out")


def test_generate_rejects_an_empty_source_and_writing_over_the_source(tmp_path):
    with pytest.raises(ValueError, match="no notebooks"):
        generate(tmp_path, tmp_path / "out")
    nbformat.write(solution_notebook(), tmp_path / "a.ipynb")
    with pytest.raises(ValueError, match="is the source folder"):
        generate(tmp_path, tmp_path)


def test_cli_reports_written_files_stale_ones_and_errors_in_one_line(tmp_path, capsys):
    nbformat.write(solution_notebook(), tmp_path / "a.ipynb")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.ipynb").write_text("{}")
    assert main(["generate", str(tmp_path), str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.out == f"wrote {out / 'a.ipynb'}\n"
    assert printed.err == f"warning: {out / 'old.ipynb'} has no source in {tmp_path}; delete it if it is stale\n"
    with pytest.raises(SystemExit) as info:
        main(["generate", str(tmp_path), str(tmp_path)])
    assert info.value.code == 1
    assert capsys.readouterr().err == (
        f"error: destination {tmp_path} is the source folder; the student versions need another folder\n"
    )
