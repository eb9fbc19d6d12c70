"""``wirelab tour`` and ``wirelab check`` as a user runs them: real processes, real lab."""

from __future__ import annotations

import html.parser
import json
import subprocess
import sys
from pathlib import Path

import pytest

WIRELAB = [sys.executable, "-m", "wirelab"]
PROGRAMS = Path(__file__).parent / "programs"


class Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [v for k, v in attrs if tag == "a" and k == "href" and v]


@pytest.mark.lab
def test_tour_passes_and_writes_its_report(tmp_path: Path) -> None:
    run = subprocess.run([*WIRELAB, "tour", "--results", str(tmp_path)], capture_output=True,
                         text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert "7/7 passed" in run.stdout
    assert "Echo (ping) request" in run.stdout  # the sample capture was dissected first
    report = tmp_path / "tour" / "report.html"
    page = report.read_text()
    assert "wirelab tour: 7/7 checks passed" in page
    parser = Links()
    parser.feed(page)
    ladders = [h for h in parser.hrefs if h.endswith("ladder.html")]
    assert len(ladders) == 7
    for href in parser.hrefs:  # every link points at a file the tour wrote
        assert (report.parent / href).is_file(), href
    for href in ladders:
        assert "<svg" in (report.parent / href).read_text()
    _rendered_in_chromium(report)


def _rendered_in_chromium(report: Path) -> None:
    """What a browser makes of the report: the heading, seven PASS cells, seven ladder links."""
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed: the report was checked as HTML only")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                          "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert "<h1>wirelab tour: 7/7 checks passed</h1>" in dom
    assert dom.count('<td class="PASS">PASS</td>') == 7
    assert dom.count('ladder.html">ladder</a>') == 7


@pytest.mark.lab
def test_check_cli_pass_json_and_fail_exit_status(tmp_path: Path) -> None:
    ok = subprocess.run([*WIRELAB, "check", "2.1", "--json", "--results", str(tmp_path / "a")],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["result"] == "PASS" and "Echo (ping) request" in data["ladder"]
    assert Path(data["pcap"]).is_file() and Path(data["ladder_html"]).is_file()

    bad = subprocess.run([*WIRELAB, "check", "1.2", "--results", str(tmp_path / "b"),
                          "--program", f"{sys.executable} {PROGRAMS / 'http_lf_only.py'}"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0].startswith("FAIL 1.2 (HTTP over a TCP socket): "
                                                 "request header lines end in LF only")
    assert "[PSH, ACK]" in bad.stdout  # the ladder of what was seen
    assert "Traceback" not in bad.stderr
    assert (tmp_path / "b" / "capture.pcap").is_file()


def test_check_help_has_an_example() -> None:
    run = subprocess.run([*WIRELAB, "check", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and "Example" in run.stdout and "--program" in run.stdout


def test_unknown_exercise_is_a_usage_error() -> None:
    run = subprocess.run([*WIRELAB, "check", "3.1"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
