"""Each chapter is a jupytext pair, chapters/NN_slug.py + chapters/NN_slug.ipynb, and the two agree.

File times mean nothing in a fresh clone, so the pair is compared by content: jupytext reads both
files and the cells must have the same types and sources (outputs and jupytext's own metadata are
ignored). `make notebooks` re-syncs and re-executes a pair that fails here.
"""

import re
from pathlib import Path

import jupytext
import pytest

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
STEM = re.compile(r"(?P<number>\d\d)_[a-z0-9_]+")
KERNELSPEC = {"name": "metarl-lite", "display_name": "metarl-lite", "language": "python"}
PAIRING = "ipynb,py:percent"
# Folders that Jupyter and Python make by themselves (and .gitignore keeps out of the repository).
TOOL_FOLDERS = {".ipynb_checkpoints", "__pycache__"}


def chapter_stems(folder: Path) -> list[str]:
    """Stems NN_slug of every NN_slug.py or NN_slug.ipynb in folder."""
    return sorted({p.stem for p in folder.iterdir()
                   if p.suffix in (".py", ".ipynb") and STEM.fullmatch(p.stem)})


def stray_files(folder: Path) -> list[str]:
    """Names in folder that are neither half of a chapter pair nor a tool folder."""
    stems = chapter_stems(folder)
    expected = {f"{stem}{suffix}" for stem in stems for suffix in (".py", ".ipynb")} | TOOL_FOLDERS
    return sorted(p.name for p in folder.iterdir() if p.name not in expected)


def missing_halves(folder: Path, stem: str) -> list[str]:
    """The files of the pair NN_slug.py + NN_slug.ipynb that do not exist in folder."""
    return [f"{stem}{suffix}" for suffix in (".py", ".ipynb") if not (folder / f"{stem}{suffix}").is_file()]


def cells(path: Path) -> list[tuple[str, str]]:
    """(cell type, source) of each cell, as jupytext reads the file."""
    return [(cell.cell_type, cell.source) for cell in jupytext.read(path).cells]


def excerpts(a: str, b: str, width: int = 30) -> tuple[str, str]:
    """The two texts around the first character where they differ."""
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, i - width)
    return a[start:i + width], b[start:i + width]


def pair_differences(py: Path, ipynb: Path) -> list[str]:
    """One line per cell where the .py and the .ipynb of a pair disagree (empty when they agree)."""
    a, b = cells(py), cells(ipynb)
    lines = [f"cell {i}: {py.name} has {ta} {xa!r}, {ipynb.name} has {tb} {xb!r}"
             for i, ((ta, sa), (tb, sb)) in enumerate(zip(a, b)) if (ta, sa) != (tb, sb)
             for xa, xb in [excerpts(sa, sb)]]
    if len(a) != len(b):
        lines.append(f"{py.name} has {len(a)} cells, {ipynb.name} has {len(b)}")
    return lines


def execution_counts(ipynb: Path) -> list:
    """execution_count of each non-empty code cell: 1, 2, 3, ... after one top-to-bottom run."""
    code = [cell for cell in jupytext.read(ipynb).cells if cell.cell_type == "code" and cell.source.strip()]
    return [cell.get("execution_count") for cell in code]


STEMS = chapter_stems(CHAPTERS)


def test_chapters_are_numbered_00_to_n_without_gaps_or_repeats():
    numbers = [STEM.fullmatch(stem)["number"] for stem in STEMS]
    assert numbers, f"no chapters/NN_slug.py found in {CHAPTERS}"
    assert numbers == [f"{n:02d}" for n in range(len(numbers))], f"chapter numbers {numbers}"


def test_no_stray_files_next_to_the_notebooks():
    stray = stray_files(CHAPTERS)
    assert not stray, f"chapters/ should hold only NN_slug.py/.ipynb pairs; remove or move {stray}"


@pytest.mark.parametrize("stem", STEMS)
def test_chapter_has_both_halves_of_the_pair(stem):
    missing = missing_halves(CHAPTERS, stem)
    assert not missing, (f"chapters/ lacks {missing}: write chapters/{stem}.py, "
                         f"then run `NB=chapters/{stem}.py make notebooks`")


@pytest.mark.parametrize("stem", STEMS)
def test_py_and_ipynb_have_the_same_cells(stem):
    differences = pair_differences(CHAPTERS / f"{stem}.py", CHAPTERS / f"{stem}.ipynb")
    assert not differences, (f"chapters/{stem}.py and .ipynb differ; edit the .py, then run "
                             f"`NB=chapters/{stem}.py make notebooks`:\n" + "\n".join(differences))


@pytest.mark.parametrize("suffix", [".py", ".ipynb"])
@pytest.mark.parametrize("stem", STEMS)
def test_pair_is_declared_and_uses_the_metarl_lite_kernel(stem, suffix):
    metadata = jupytext.read(CHAPTERS / f"{stem}{suffix}").metadata
    where = f"chapters/{stem}{suffix}"
    assert metadata.get("kernelspec") == KERNELSPEC, f"{where}: the kernelspec must be {KERNELSPEC}"
    assert metadata.get("jupytext", {}).get("formats") == PAIRING, f"{where}: pair it as {PAIRING!r}"


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_was_executed_top_to_bottom(stem):
    counts = execution_counts(CHAPTERS / f"{stem}.ipynb")
    assert counts == list(range(1, len(counts) + 1)), (
        f"chapters/{stem}.ipynb execution counts {counts}: run `NB=chapters/{stem}.py make notebooks`")


# The checks above must be able to fail: each helper on a crafted folder.

def write_pair(folder: Path, stem: str, py_body: str, ipynb_body: str | None = None) -> None:
    header = f"# ---\n# jupyter:\n#   jupytext:\n#     formats: {PAIRING}\n#   kernelspec:\n" + "".join(
        f"#     {key}: {value}\n" for key, value in KERNELSPEC.items()) + "# ---\n\n"
    (folder / f"{stem}.py").write_text(header + py_body)
    notebook = jupytext.reads(header + (py_body if ipynb_body is None else ipynb_body), fmt="py:percent")
    jupytext.write(notebook, folder / f"{stem}.ipynb")


def test_pair_differences_finds_an_edited_cell_and_an_added_cell(tmp_path):
    body = "# %% [markdown]\n# Goal\n\n# %%\nx = 1\n"
    write_pair(tmp_path, "00_same", body)
    assert pair_differences(tmp_path / "00_same.py", tmp_path / "00_same.ipynb") == []
    write_pair(tmp_path, "01_edited", body, body.replace("x = 1", "x = 2") + "\n# %%\ny = 3\n")
    assert pair_differences(tmp_path / "01_edited.py", tmp_path / "01_edited.ipynb") == [
        "cell 1: 01_edited.py has code 'x = 1', 01_edited.ipynb has code 'x = 2'",
        "01_edited.py has 2 cells, 01_edited.ipynb has 3",
    ]


def test_excerpts_show_where_two_long_cells_first_differ():
    a = "word " * 40 + "alpha"
    assert excerpts(a, a[:-5] + "beta", width=5) == ("word alpha", "word beta")
    assert excerpts("same", "same, longer", width=2) == ("me", "me, ")


def test_a_markdown_cell_turned_code_is_a_difference(tmp_path):
    write_pair(tmp_path, "00_kind", "# %% [markdown]\n# x = 1\n", "# %%\n# x = 1\n")
    assert len(pair_differences(tmp_path / "00_kind.py", tmp_path / "00_kind.ipynb")) == 1


def test_stray_files_and_orphans_are_found(tmp_path):
    write_pair(tmp_path, "00_welcome", "# %%\nx = 1\n")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    assert stray_files(tmp_path) == []
    (tmp_path / "MUJOCO_LOG.TXT").write_text("WARNING: settotalmass is deprecated\n")
    (tmp_path / "01_orphan.py").write_text("x = 1\n")
    (tmp_path / "02_Bad-Name.ipynb").write_text("{}")
    assert chapter_stems(tmp_path) == ["00_welcome", "01_orphan"]
    assert stray_files(tmp_path) == ["02_Bad-Name.ipynb", "MUJOCO_LOG.TXT"]
    assert missing_halves(tmp_path, "00_welcome") == []
    assert missing_halves(tmp_path, "01_orphan") == ["01_orphan.ipynb"]


def test_execution_counts_expose_an_unexecuted_cell(tmp_path):
    write_pair(tmp_path, "00_run", "# %%\nx = 1\n\n# %%\ny = 2\n")
    path = tmp_path / "00_run.ipynb"
    notebook = jupytext.read(path)
    notebook.cells[0].execution_count = 1
    jupytext.write(notebook, path)
    assert execution_counts(path) == [1, None]


def noisy_outputs(ipynb: Path) -> list[str]:
    """Cells whose stored output holds an error, a traceback or anything written to stderr (warnings)."""
    notebook = jupytext.read(ipynb)
    return [
        f"cell {i}: {out.get('ename') or out.get('name')}: {str(out.get('evalue') or out.get('text'))[:80]!r}"
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out["output_type"] == "error" or (out["output_type"] == "stream" and out["name"] == "stderr")
    ]


@pytest.mark.parametrize("stem", STEMS)
def test_executed_notebook_shows_no_warning_or_traceback(stem):
    assert noisy_outputs(CHAPTERS / f"{stem}.ipynb") == [], f"re-run `NB=chapters/{stem}.py make notebooks` after fixing"


def test_noisy_outputs_finds_a_warning(tmp_path):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("import warnings; warnings.warn('careful')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="UserWarning: careful\n")]
    notebook.cells = [cell, nbformat.v4.new_code_cell("1")]
    nbformat.write(notebook, tmp_path / "n.ipynb")
    assert noisy_outputs(tmp_path / "n.ipynb") == ["cell 0: stderr: 'UserWarning: careful\\n'"]
