"""Sphinx configuration of the course site: `make site` -> docs/_build/html/index.html.

The chapters are the executed notebooks themselves (docs/chapters is a link to ../chapters), shown
as they were saved: nothing is re-executed. Everything the pages load is local, so the site builds
and reads offline: sphinx-book-theme, MathJax 3 from the sphinx-mathjax-offline package, and widget
outputs as static HTML (_ext/notebook_outputs.py) instead of ipywidgets' JavaScript from a CDN.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "metarl-lite"
author = "the metarl-lite authors"
copyright = "the metarl-lite authors, MIT license"

extensions = ["myst_nb", "sphinx-mathjax-offline", "notebook_outputs"]
exclude_patterns = ["_build", "_ext", "**/.ipynb_checkpoints"]

# Notebooks: show the saved outputs; $...$ and $$...$$ math in markdown cells.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no widget manager from a CDN; notebook_outputs renders widgets statically
myst_enable_extensions = ["dollarmath", "amsmath"]

html_theme = "sphinx_book_theme"
html_title = "metarl-lite"
html_static_path = ["_static"]
html_css_files = ["widgets.css"]
html_theme_options = {"home_page_in_toc": True, "show_toc_level": 2}
