"""Notebook outputs on the static course site (a Sphinx extension, after myst-nb has read a notebook).

- An error output (a traceback saved in an executed chapter) becomes a build warning, so `make site`
  (sphinx -W) fails and names the notebook and cell: re-execute the chapter to fix it.
- An ipywidgets output becomes static HTML built from the widget state that the notebook saved
  (ipywidgets needs a kernel to react, and its JavaScript would come from a CDN): a slider is shown
  as a disabled range input with its value, a progress bar as <progress>, an Output widget as the
  images and text it held, boxes as rows or columns of their children, any other widget as its
  description and value.
"""

import html
import json
import math
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# myst-nb renders a widget view as <script type="...widget-view+json">{"model_id": "...", ...}</script>.
VIEW_SCRIPT = re.compile(rf'<script type="{re.escape(WIDGET_VIEW)}">.*?model_id\W+(\w+)', re.S)
SLIDERS = ("IntSliderModel", "FloatSliderModel", "FloatLogSliderModel")
INTERACT_NOTE = "A snapshot: run the chapter in JupyterLab (<code>make lab</code>) to move the sliders."


def output_html(output: dict) -> str:
    """One saved output (of an Output widget) as HTML: a PNG image, HTML, or plain text."""
    data = output.get("data", {})
    if "image/png" in data:
        return f'<img src="data:image/png;base64,{"".join(data["image/png"]).strip()}" alt="figure">'
    if "text/html" in data:
        return "".join(data["text/html"])
    text = "".join(data.get("text/plain", output.get("text", "")))
    return f"<pre>{html.escape(text)}</pre>" if text else ""


def slider_html(name: str, state: dict) -> str:
    """A disabled range input at the slider's position, its description and its value."""
    value, position = state["value"], state["value"]
    if name == "FloatLogSliderModel":  # min, max and step are exponents of base (rounded: log(0.01, 10) != -2.0)
        position = round(math.log(value, state["base"]), 9)
    readout = format(value, state.get("readout_format", "")) if state.get("readout", True) else ""
    return (f'<label class="static-slider">{html.escape(state.get("description", ""))} '
            f'<input type="range" disabled min="{state["min"]}" max="{state["max"]}" '
            f'step="{state.get("step", 1)}" value="{position}"> {html.escape(readout)}</label>')


def widget_html(states: dict, model_id: str) -> str:
    """Static HTML of a saved widget and its children; empty for a widget whose state was not saved."""
    model = states.get(model_id)
    if model is None:
        return ""
    name, state = model["model_name"], model["state"]
    if "children" in state:  # Box, HBox, VBox; `interactive` is a VBox of controls and an Output
        inner = "".join(widget_html(states, child.removeprefix("IPY_MODEL_")) for child in state["children"])
        layout = "static-hbox" if name == "HBoxModel" else "static-vbox"
        interact = "widget-interact" in state.get("_dom_classes", ())
        note = f'<p class="static-note">{INTERACT_NOTE}</p>' if interact else ""
        return f'<div class="static-widget {layout}">{inner}{note}</div>'
    if name == "OutputModel":
        return "".join(map(output_html, state.get("outputs", [])))
    if name in SLIDERS:
        return slider_html(name, state)
    if name.endswith("ProgressModel"):
        return f'<progress value="{state["value"]}" max="{state["max"]}"></progress>'
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<span>{state.get('value', '')}</span>"
    return f"<span>{html.escape(' '.join(str(state[key]) for key in ('description', 'value') if key in state))}</span>"


def error_outputs(notebook: dict):
    """(cell number, 'ename: evalue') of every error output of a notebook, cells counted from 1."""
    for number, cell in enumerate(notebook["cells"], start=1):
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                yield number, f"{output['ename']}: {output['evalue']}"


def render_notebook_outputs(app, doctree) -> None:
    """doctree-read: warn on error outputs, replace widget views by static HTML."""
    path = Path(app.env.doc2path(app.env.docname))
    if path.suffix != ".ipynb":
        return
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for number, error in error_outputs(notebook):
        logger.warning(f"cell {number} saved an error output ({error}); re-execute the chapter "
                       f"(NB=chapters/{path.stem}.py make notebooks)", location=app.env.docname)
    states = notebook["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for node in list(doctree.findall(nodes.raw)):
        view = VIEW_SCRIPT.match(node.astext())
        if view:
            node.replace_self(nodes.raw("", widget_html(states, view[1]), format="html"))


def setup(app):
    app.connect("doctree-read", render_notebook_outputs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
