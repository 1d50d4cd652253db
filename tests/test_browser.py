"""End to end, as a student sees it: JupyterLab in headless Chromium runs chapter 02, a slider of its
widget moves, and the figure follows.

Needs Debian's Chromium (/usr/bin/chromium, `apt-get install chromium`; Playwright downloads no
browser here) and the Python package playwright (the dev extra). Without them the test is skipped,
except under CI (CI=true), where it fails: CI must not skip it silently. The screenshot of the
notebook after the slider moved is tests/output/jupyterlab_02_maml_widget.png (git-ignored).
"""

import base64
import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "tests" / "output"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
NOTEBOOK = "chapters/02_maml.ipynb"
WIDGET_CELL = "adaptation_widget(inits"  # the code of chapter 02's `interactive` over alpha and k
KERNEL = "metarl-lite"


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser (Playwright driving /usr/bin/chromium); skipped, or failed under
    CI=true, when Chromium or playwright is missing."""
    missing = [what for what, found in (
        (f"{CHROMIUM} (apt-get install chromium)", CHROMIUM.exists()),
        ("the Python package playwright (pip install -e '.[dev]')", importlib.util.find_spec("playwright")),
    ) if not found]
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(reason + "; CI=true, so it fails instead of skipping")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser():
    """chromium(), checked before JupyterLab starts (test arguments are set up in order)."""
    with chromium() as browser:
        yield browser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api(base: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base}/api/{path}", method=method,
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab on a free localhost port with a random token, serving the repository; yields its
    base URL and token. Settings, workspaces and runtime files live in a temporary folder; the
    announcements plugin ("Jupyter news" pop-up) and autosave (which would write the executed
    chapter back to disk) are off. The server and its kernels stop afterwards whatever happens."""
    home = tmp_path_factory.mktemp("jupyterlab")
    (home / "config" / "labconfig").mkdir(parents=True)
    (home / "config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    docmanager = home / "settings" / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {"JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
                        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={ROOT}", f"--LabApp.user_settings_dir={home / 'settings'}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}", "--ServerApp.allow_root=True"]
    with open(home / "server.log", "wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{(home / 'server.log').read_text()}")
            with contextlib.suppress(OSError):
                api(base, token, "status")
                break
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer on {base} within 90 s:\n{(home / 'server.log').read_text()}")
            time.sleep(0.5)
        yield base, token
    finally:
        with contextlib.suppress(OSError, ValueError):
            for kernel in api(base, token, "kernels"):
                api(base, token, f"kernels/{kernel['id']}", method="DELETE")
        with contextlib.suppress(ProcessLookupError):  # the group is gone if the server failed to start
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def png(src: str) -> bytes:
    """The image of an <img src="data:image/png;base64,..."> (how JupyterLab shows a PNG output)."""
    assert src.startswith("data:image/png;base64,"), f"the widget's figure is not an inline PNG: {src[:60]!r}"
    image = base64.b64decode(src.split(",", 1)[1])
    assert image.startswith(b"\x89PNG"), "the widget's figure is not a PNG"
    return image


def test_chapter_02_slider_redraws_the_figure_in_jupyterlab(browser, jupyterlab):
    from playwright.sync_api import expect  # importable once the browser fixture found playwright

    base, token = jupyterlab
    saved = (ROOT / NOTEBOOK).read_bytes()
    OUTPUT.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
        cell = page.locator(".jp-CodeCell", has_text=WIDGET_CELL)
        expect(cell).to_have_count(1, timeout=90_000)
        expect(page.locator(".jp-Toolbar-kernelName").first).to_have_text(KERNEL, timeout=90_000)
        # Run > Run All Cells: the widget cell needs the networks trained above it (~35 s).
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

        figure = cell.locator(".jp-OutputArea-output img")
        broken = page.get_by_text("Error displaying widget")
        figure.or_(broken).first.wait_for(timeout=300_000)
        assert broken.count() == 0, "JupyterLab could not display the widget (see the README's Troubleshooting)"
        before_src = figure.get_attribute("src")

        readout = cell.locator(".widget-slider", has_text="alpha").locator(".widget-readout")
        assert float(readout.inner_text()) == 0.01  # the step size MAML was trained with (shown as 0.0100)
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("0.1")
        page.keyboard.press("Enter")
        # The Output widget replaces its <img> when the callback has drawn the new figure.
        expect(figure).not_to_have_attribute("src", before_src, timeout=60_000)

        assert float(readout.inner_text()) == 0.1
        assert png(figure.get_attribute("src")) != png(before_src), "alpha 0.01 -> 0.1 left the figure as it was"
        assert broken.count() == 0
        cell.scroll_into_view_if_needed()
    finally:
        page.screenshot(path=OUTPUT / "jupyterlab_02_maml_widget.png")
    assert (ROOT / NOTEBOOK).read_bytes() == saved, "the browser session changed the chapter on disk"
