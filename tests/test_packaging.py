"""Delivery files agree: environment.yml installs what pyproject.toml declares, the `metarl-lite`
command is declared, and every `make` command in the README exists.

conda and pip spell some packages differently. Names are compared in PEP 503 normal form (case
and runs of "-", "_", "." do not matter), after mapping conda-forge names through ALIASES.
"""

import ast
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
# conda-forge name -> PyPI name, where they differ by more than spelling.
ALIASES = {"pytorch": "torch", "mujoco-python": "mujoco", "matplotlib-base": "matplotlib"}
# In environment.yml but not Python dependencies: the interpreter and the installer.
CONDA_ONLY = ("python", "pip")
# The pip line that installs the course package itself, editable, with the dev extra.
SELF_INSTALL = "-e .[dev]"
CONDA_SPEC = re.compile(r"(?:[\w.-]+::)?(?P<name>[A-Za-z0-9][\w.-]*)\s*(?P<spec>.*)")


def normalize(name: str) -> str:
    """PEP 503 normal form: lower case, each run of -_. becomes one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements(pyproject: dict) -> dict[str, str]:
    """{normalized name: version specifier} of project.dependencies + the dev extra."""
    project = pyproject["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["dev"]
    return _unique((normalize(req.name), str(req.specifier)) for req in map(Requirement, lines))


def environment_requirements(env: dict) -> dict[str, str]:
    """{PyPI name: version specifier} of an environment.yml's conda packages and pip section,
    without python, pip and the package's own editable install."""
    pairs = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            if set(entry) != {"pip"}:
                raise ValueError(f"environment.yml: only a `pip:` section may be nested, got {set(entry)}")
            reqs = [Requirement(line) for line in entry["pip"] if line != SELF_INSTALL]
            pairs += [(normalize(req.name), str(req.specifier)) for req in reqs]
            continue
        match = CONDA_SPEC.fullmatch(entry.strip())
        if match is None:
            raise ValueError(f"environment.yml: cannot read the conda spec {entry!r}")
        name = normalize(match["name"])
        if name not in CONDA_ONLY:
            pairs.append((ALIASES.get(name, name), str(SpecifierSet(match["spec"].replace(" ", "")))))
    return _unique(pairs)


def _unique(pairs) -> dict[str, str]:
    found = {}
    for name, spec in pairs:
        if name in found:
            raise ValueError(f"{name} is listed twice: keep one entry")
        found[name] = spec
    return found


def mismatches(declared: dict[str, str], env: dict[str, str]) -> list[str]:
    """One line per difference between pyproject's requirements and environment.yml's."""
    lines = [f"{name}: in pyproject.toml, missing from environment.yml"
             for name in sorted(declared.keys() - env.keys())]
    lines += [f"{name}: in environment.yml, missing from pyproject.toml"
              for name in sorted(env.keys() - declared.keys())]
    lines += [f"{name}: pyproject.toml says {declared[name]!r}, environment.yml says {env[name]!r}"
              for name in sorted(declared.keys() & env.keys()) if declared[name] != env[name]]
    return lines


def load_pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def load_environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_environment_yml_lists_the_packages_of_pyproject():
    declared, env = pyproject_requirements(load_pyproject()), environment_requirements(load_environment())
    problems = mismatches(declared, env)
    assert not problems, "environment.yml and pyproject.toml disagree:\n" + "\n".join(problems)


def crafted(*, pyproject_deps, dev, conda, pip=()):
    project = {"dependencies": list(pyproject_deps), "optional-dependencies": {"dev": list(dev)}}
    pyproject = {"project": project}
    env = {"dependencies": ["python=3.11", "pip", *conda, {"pip": [*pip, SELF_INSTALL]}]}
    return pyproject_requirements(pyproject), environment_requirements(env)


def test_conda_spellings_and_aliases_match_their_pypi_names():
    declared, env = crafted(pyproject_deps=["torch>=2.13", "numpy>=1.26"], dev=["jupyterlab_widgets>=3"],
                            conda=["conda-forge::pytorch >=2.13", "NumPy>=1.26"],
                            pip=["JupyterLab-Widgets>=3"])
    assert declared == env == {"torch": ">=2.13", "numpy": ">=1.26", "jupyterlab-widgets": ">=3"}
    assert mismatches(declared, env) == []


def test_mismatches_catch_a_package_added_to_either_side():
    declared, env = crafted(pyproject_deps=["torch>=2.13"], dev=["pytest>=8"],
                            conda=["pytorch>=2.13", "pytest>=8"])
    assert mismatches(declared, env) == []
    assert mismatches(declared | {"nbval": ">=0.11"}, env) == [
        "nbval: in pyproject.toml, missing from environment.yml"]
    assert mismatches(declared, env | {"scipy": ""}) == [
        "scipy: in environment.yml, missing from pyproject.toml"]


def test_mismatches_catch_different_version_bounds():
    declared, env = crafted(pyproject_deps=["torch>=2.13"], dev=[], conda=["pytorch>=2.12"])
    assert mismatches(declared, env) == ["torch: pyproject.toml says '>=2.13', environment.yml says '>=2.12'"]


def test_a_package_listed_twice_in_environment_yml_is_an_error():
    with pytest.raises(ValueError, match="torch is listed twice"):
        crafted(pyproject_deps=[], dev=[], conda=["pytorch>=2.13"], pip=["torch>=2.13"])


def test_environment_yml_header_python_and_self_install():
    env, project = load_environment(), load_pyproject()["project"]
    assert env["name"] == "metarl-lite"
    assert env["channels"] == ["conda-forge"]
    conda = [spec for spec in env["dependencies"] if isinstance(spec, str)]
    python = [spec for spec in conda if spec.startswith("python=")]
    assert python == ["python=3.11"]
    assert SpecifierSet(project["requires-python"]).contains("3.11")
    pip_sections = [entry["pip"] for entry in env["dependencies"] if isinstance(entry, dict)]
    assert len(pip_sections) == 1 and SELF_INSTALL in pip_sections[0]
    assert "pip" in conda, "conda must install pip to run the pip section"


def test_console_script_metarl_lite_points_at_cli_main():
    scripts = load_pyproject()["project"]["scripts"]
    assert scripts == {"metarl-lite": "metarl_lite.cli:main"}
    module, function = scripts["metarl-lite"].split(":")
    source = ROOT / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"{source} is missing: the console script points at it"
    tree = ast.parse(source.read_text(), filename=str(source))
    top_level = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert function in top_level, f"{source} defines no top-level {function}()"


def test_every_make_command_in_readme_is_a_makefile_target():
    targets = set(re.findall(r"^([\w-]+)\s*:(?!=)", (ROOT / "Makefile").read_text(), flags=re.M))
    code = re.findall(r"```.*?```|`[^`\n]+`", (ROOT / "README.md").read_text(), flags=re.S)
    used = set(re.findall(r"\bmake ([a-z][\w-]*)", "\n".join(code)))
    assert {"lab", "test"} <= used, "the README's quick start is `make lab` and `make test`"
    assert used <= targets, f"README names make targets the Makefile lacks: {sorted(used - targets)}"
