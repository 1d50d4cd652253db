"""The course site (`make site`): Sphinx renders the executed chapters without re-executing them.

One build with `make site`'s own command, into a temporary folder (~20 s), is checked for a page
per chapter in numeric order, math typeset by the MathJax copy in _static with nothing loaded from
the network, every figure, and widgets as static snapshots. A notebook with a saved error output
fails the build. Headless Chromium (as in test_browser.py) checks that MathJax typesets every
formula offline.
"""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from test_browser import chromium

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
from notebook_outputs import WIDGET_STATE, WIDGET_VIEW, widget_html  # noqa: E402

CHAPTERS = sorted(ROOT.glob("chapters/[0-9]*.ipynb"), key=lambda path: int(path.name.split("_")[0]))
IMAGES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
REMOTE = re.compile(r"^(https?:)?//")


def site_command(out: Path) -> list[str]:
    """The Sphinx command of the Makefile's `site` target, writing to ``out``."""
    recipe = re.search(r"^site:.*(?:\n\t.*)*?\n\t(\$\(PY\) -m sphinx .*)$", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "the Makefile's site target runs no `$(PY) -m sphinx` command"
    return shlex.split(recipe[1].replace("$(PY)", sys.executable).replace("$(SITE)", str(out)))


def build(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "html"
    result = build(site_command(out))
    assert result.returncode == 0, f"the site build failed:\n{result.stdout[-3000:]}\n{result.stderr}"
    return out


def notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def outputs(nb: dict):
    for cell in nb["cells"]:
        yield from cell.get("outputs", [])


def page(site: Path, chapter: Path) -> str:
    return (site / "chapters" / f"{chapter.stem}.html").read_text(encoding="utf-8")


def test_there_are_chapters():
    assert len(CHAPTERS) >= 5, "chapters/00-04 exist; the glob chapters/[0-9]*.ipynb found fewer"


def test_index_lists_every_chapter_page_in_numeric_order(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    toc = re.search(r'<div class="toctree-wrapper.*?</div>', index, re.S)[0]
    assert re.findall(r'href="([^"#]+)"', toc) == [f"chapters/{chapter.stem}.html" for chapter in CHAPTERS]
    for chapter in CHAPTERS:
        title = next(line for cell in notebook(chapter)["cells"] if cell["cell_type"] == "markdown"
                     for line in "".join(cell["source"]).splitlines() if line.startswith("# "))
        assert f"<h1>{title[2:]}" in page(site, chapter), f"{chapter.name}: no page titled {title[2:]!r}"


def test_pages_load_nothing_from_the_network_and_math_uses_the_local_mathjax(site):
    for html_page in site.rglob("*.html"):
        html = html_page.read_text(encoding="utf-8")
        scripts = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
        links = re.findall(r'<link[^>]*\shref="([^"]+)"', html)
        remote = [url for url in scripts + links if REMOTE.match(url)]
        assert not remote, f"{html_page.relative_to(site)} loads {remote}"
    for chapter in CHAPTERS:
        html = page(site, chapter)
        mathjax = [src for src in re.findall(r'<script[^>]*\ssrc="([^"]+)"', html) if "mathjax" in src.lower()]
        assert mathjax == ["../_static/mathjax/tex-chtml.js"], f"{chapter.name}: MathJax scripts {mathjax}"
        assert (site / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
        assert re.search(r'class="math notranslate nohighlight"', html), f"{chapter.name}: no math on the page"


def test_every_figure_of_a_chapter_is_on_its_page(site):
    for chapter in CHAPTERS:
        nb, html = notebook(chapter), page(site, chapter)
        figures = sum(any(mime in output.get("data", {}) for mime in IMAGES) for output in outputs(nb))
        images = re.findall(r'<img[^>]*\ssrc="\.\./(_images/[^"]+)"', html)
        assert len(images) == figures, f"{chapter.name}: {figures} figure outputs, {len(images)} images on the page"
        assert all((site / image).stat().st_size > 0 for image in images)
        videos = sum("<video" in "".join(output.get("data", {}).get("text/html", "")) for output in outputs(nb))
        assert html.count("<video") >= videos, f"{chapter.name}: {videos} HTML5 videos in the notebook"


def test_widgets_are_static_snapshots_of_their_saved_state(site):
    for chapter in CHAPTERS:
        nb, html = notebook(chapter), page(site, chapter)
        assert f'<script type="{WIDGET_VIEW}"' not in html, f"{chapter.name}: a widget view was left to JavaScript"
        states = nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        views = [output["data"][WIDGET_VIEW] for output in outputs(nb) if WIDGET_VIEW in output.get("data", {})]
        for view in views:
            assert widget_html(states, view["model_id"]) in html, f"{chapter.name}: widget {view} is not on the page"
    maml = page(site, ROOT / "chapters" / "02_maml.ipynb")
    snapshot = re.search(r'<div class="static-widget static-vbox">(.*?)class="static-note"', maml, re.S)
    assert snapshot, "chapter 02's interactive (alpha, k) is not on its page"
    assert re.search(r'alpha <input type="range" disabled min="-4.0" max="0.0" step="0.1" value="-2.0"> 0.01<',
                     snapshot[1]), "alpha = 0.01 on a log10 slider from 1e-4 to 1: position -2"
    assert '<img src="data:image/png;base64,iVBORw0KGgo' in snapshot[1], "the widget's figure is missing"


def test_a_log_slider_sits_at_the_exponent_of_its_value():
    states = {"s": {"model_name": "FloatLogSliderModel", "state": {
        "value": 8.0, "base": 2.0, "min": 0.0, "max": 5.0, "step": 1.0, "description": "x", "readout_format": ".3g"}}}
    assert widget_html(states, "s") == ('<label class="static-slider">x <input type="range" disabled min="0.0" '
                                        'max="5.0" step="1.0" value="3.0"> 8</label>')
    assert widget_html(states, "missing") == ""


def test_a_saved_error_output_fails_the_build(tmp_path):
    source = tmp_path / "source"
    (source / "chapters").mkdir(parents=True)
    (source / "index.md").write_text("# Test\n\n```{toctree}\n:glob:\n\nchapters/*\n```\n")
    broken = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 99 · Broken"),
        nbformat.v4.new_code_cell("1 / 0", outputs=[nbformat.v4.new_output(
            "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]),
    ], metadata={"kernelspec": {"name": "metarl-lite", "display_name": "metarl-lite", "language": "python"}})
    nbformat.write(broken, source / "chapters" / "99_broken.ipynb")
    command = site_command(tmp_path / "html")
    command[command.index("docs")] = str(source)
    result = build([*command, "-c", str(ROOT / "docs")])
    assert result.returncode != 0
    assert result.stderr.count("WARNING") == 1, result.stderr
    assert ("99_broken.ipynb: WARNING: cell 2 saved an error output (ZeroDivisionError: division by zero)"
            in result.stderr)


def test_chromium_typesets_every_formula_offline(site):
    with chromium() as browser:
        tab = browser.new_page()
        blocked = []
        tab.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                    else (blocked.append(route.request.url), route.abort()))
        for chapter in CHAPTERS:
            tab.goto((site / "chapters" / f"{chapter.stem}.html").as_uri())
            tab.wait_for_function("() => window.MathJax?.startup?.promise", timeout=30_000)
            tab.evaluate("() => MathJax.startup.promise")
            formulas = tab.locator(".math").count()
            assert formulas > 0
            assert tab.locator(".math:not(:has(mjx-container))").count() == 0, f"{chapter.name}: formulas left as TeX"
            assert tab.locator("mjx-merror").count() == 0, f"{chapter.name}: MathJax reports a TeX error"
        assert not blocked, f"the pages asked the network for {blocked}"
