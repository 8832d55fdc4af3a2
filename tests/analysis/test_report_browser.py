"""report.html in a real headless browser (Chromium from the distribution's packages; .ci/run installs it): it
renders, every image loads (naturalWidth > 0), and the browser logs no console message. Screenshots of the
report go to $DEML_SCREENSHOTS when set (for the closing note), else into the test's temporary folder."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(BROWSER is None, reason="no Chromium on PATH (apt-get install chromium; .ci/run does)")]

# appended to a copy of the page: once everything has loaded, the title reports the images that did not
PROBE = """<script>addEventListener("load", () => {
  const images = [...document.images];
  document.title = "PROBE " + JSON.stringify({count: images.length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 40))});
});</script>"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000"]


def browse(page: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, *FLAGS, *args, page.resolve().as_uri()], capture_output=True, text=True,
                          timeout=120)


def probe(page: Path, tmp_path: Path) -> dict:
    copy = tmp_path / f"probe-{page.parent.name}.html"
    copy.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = browse(copy, "--dump-dom").stdout
    found = re.search(r"<title>PROBE (.*?)</title>", dom)
    assert found, dom[:500]
    return json.loads(found.group(1).replace("&quot;", '"'))


def console(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


def test_the_probe_sees_broken_images_and_console_errors(tmp_path):
    """The checks themselves can fail: a page with a broken image and a script error trips both."""
    bad = tmp_path / "bad" / "report.html"
    bad.parent.mkdir()
    bad.write_text("<!doctype html><html><head><title>t</title></head><body><img alt='gone' src='missing.png'>"
                   "<script>console.error('boom')</script></body></html>")
    assert probe(bad, tmp_path) == {"count": 1, "broken": ["gone"]}
    assert any("boom" in line for line in console(browse(bad, "--dump-dom")))


@pytest.mark.parametrize("which", ["analysed", "sweep_analysed", "demo_analysed"])
def test_the_report_renders_with_every_image(which, request, tmp_path):
    out = request.getfixturevalue(which)
    page = out / "report.html"
    result = probe(page, tmp_path)
    assert result["count"] == len(list(out.glob("*.png"))) and result["broken"] == []
    shots = Path(os.environ.get("DEML_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / f"report-{which}.png"
    rendered = browse(page, "--window-size=1200,6000", f"--screenshot={shot}")
    assert console(rendered) == []
    assert shot.stat().st_size > 50_000  # a page of tables and plots, not a blank one
