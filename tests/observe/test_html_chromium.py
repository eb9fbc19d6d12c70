"""The HTML page and the SVG, loaded in headless Chromium (Debian's ``chromium``): the DOM
after load holds every arrow and its label, the layout puts each label on its arrow inside
the picture, and a screenshot shows the diagram (blue arrows, a red marked one)."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser

import pytest

from wirelab.observe import IcmpInfo, Ladder, Observed, build_ladder
from wirelab.wire.ipv4 import IPProto

from .helpers import Talk
from .png import decode_png
from .test_handbuilt import duplicated

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")


def _ladder() -> Ladder:
    """A TCP connection with two retransmissions, then a UDP datagram and a ping."""
    talk = Talk()
    duplicated(talk)
    last = talk.observed[-1]
    extra = [
        Observed(last.number + 1, last.ts_ns + 10**6, 60, "192.0.2.1", "192.0.2.9",
                 IPProto.UDP, 5353, 53, udp_len=29),
        Observed(last.number + 2, last.ts_ns + 2 * 10**6, 98, "192.0.2.1", "192.0.2.2",
                 IPProto.ICMP, icmp=IcmpInfo(8, 0, 4, 0x1234, 1), ttl=64),
        Observed(last.number + 3, last.ts_ns + 3 * 10**6, 98, "192.0.2.2", "192.0.2.1",
                 IPProto.ICMP, icmp=IcmpInfo(0, 0, 4, 0x1234, 1), ttl=64),
    ]
    return build_ladder([*talk.observed, *extra], title="retransmissions <& friends>")


def _chromium(tmp: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "chromium-profile"
    assert CHROMIUM is not None
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class _Texts(HTMLParser):
    """Collect the text of the SVG's <text> elements by class, and the arrow groups."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[str, list[str]] = {}
        self.arrows: list[dict[str, str | None]] = []
        self.rows = 0
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "g" and "arrow" in (a.get("class") or "").split():
            self.arrows.append(a)
        if tag == "tr":
            self.rows += 1
        if tag in ("text", "tspan"):
            self._stack.append(a.get("class") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("text", "tspan") and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1]:
            self.texts.setdefault(self._stack[-1], []).append(data)


def test_page_is_self_contained() -> None:
    page = _ladder().render_html()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page, re.I)
    assert not re.search(r"@import|(?<![\w-])(src|href)\s*=", page, re.I)
    assert all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", page))
    assert "retransmissions &lt;&amp; friends&gt;" in page  # escaped, not markup


def test_dom_after_load_has_every_arrow_and_label(tmp_path: pathlib.Path) -> None:
    ladder = _ladder()
    page = tmp_path / "ladder.html"
    page.write_text(ladder.render_html(), encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    parsed = _Texts()
    parsed.feed(dom)
    assert [int(a["data-frame"] or 0) for a in parsed.arrows] == \
        [a.number for a in ladder.arrows]
    assert parsed.texts["label"] == [a.label for a in ladder.arrows]
    assert parsed.texts["endpoint"] == ladder.endpoints
    assert parsed.texts["phase-label"] == ["handshake", "data", "teardown"]
    assert Counter(parsed.texts["marks"]) == Counter(
        "".join(f"[{m}] " for m in a.marks) for a in ladder.arrows if a.marks)
    alerts = [a["data-frame"] for a in parsed.arrows if "alert" in (a["class"] or "")]
    assert alerts == [str(a.number) for a in ladder.arrows if a.alert] and len(alerts) == 2
    assert parsed.rows == 1 + len(ladder.arrows)  # the table: a header and one row each


MEASURE = """<script>
const svg = document.querySelector("svg.wl-ladder");
const box = svg.viewBox.baseVal;
const lifelines = [...svg.querySelectorAll("line.lifeline")].map(l => l.x1.baseVal.value);
const arrows = [...svg.querySelectorAll("g.arrow")].map(g => {
  const label = g.querySelector("text.label").getBBox();
  const line = g.querySelector("line");
  const detail = g.querySelector("text:last-of-type").getBBox();
  return {frame: g.dataset.frame, label: [label.x, label.y, label.width, label.height],
          line: line ? [line.x1.baseVal.value, line.x2.baseVal.value, line.y1.baseVal.value]
                     : null,
          detail: [detail.x, detail.y, detail.width, detail.height]};
});
const out = document.createElement("pre");
out.id = "measure";
out.textContent = JSON.stringify({box: [box.width, box.height], lifelines, arrows,
  rendered: [svg.getBoundingClientRect().width, svg.getBoundingClientRect().height]});
document.body.appendChild(out);
</script>"""


def test_layout_puts_labels_on_their_arrows(tmp_path: pathlib.Path) -> None:
    """Measured by the browser: labels have width, sit on their arrow, stay in the picture,
    and no two rows overlap."""
    ladder = _ladder()
    page = tmp_path / "measure.html"
    page.write_text(ladder.render_html().replace("</body>", MEASURE + "</body>"), "utf-8")
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    m = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    width, height = m["box"]
    assert m["rendered"] == [pytest.approx(width, abs=1), pytest.approx(height, abs=1)]
    assert len(m["lifelines"]) == len(ladder.endpoints)
    tops = []
    for arrow, got in zip(ladder.arrows, m["arrows"], strict=True):
        x, y, w, h = got["label"]
        assert w > 5 * len(arrow.label) and h > 8, got  # the text really rendered
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
        dx, _, dw, _ = got["detail"]
        assert dw > 0 and dx + dw <= width
        if got["line"] is not None:
            x1, x2, ly = got["line"]
            src, dst = (m["lifelines"][i] for i in (arrow.src, arrow.dst))
            assert x1 == pytest.approx(src) and abs(x2 - dst) <= 3  # lifeline to lifeline
            assert min(x1, x2) <= x and x + w <= max(x1, x2)  # the label fits on its arrow
            assert y + h <= ly + 2  # and sits just above it
        tops.append(y)
    assert all(b - a >= 12 for a, b in zip(tops, tops[1:], strict=False))  # rows apart


def test_screenshot_shows_the_diagram(tmp_path: pathlib.Path) -> None:
    page = tmp_path / "shot.html"
    page.write_text(_ladder().render_html(), encoding="utf-8")
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,1000", page.as_uri())
    width, height, rows = decode_png(shot.read_bytes())
    assert (width, height) == (1400, 1000)
    colors: Counter[tuple[int, int, int]] = Counter()
    for row in rows:
        colors.update(zip(row[0::3], row[1::3], row[2::3], strict=True))
    assert len(colors) > 50  # not a blank page

    def near(target: tuple[int, int, int]) -> int:
        return sum(n for c, n in colors.items()
                   if all(abs(a - b) <= 40 for a, b in zip(c, target, strict=True)))

    assert near((0x1F, 0x4E, 0x8C)) > 500  # the blue arrows
    assert near((0xC6, 0x28, 0x28)) > 200  # the two red, marked ones
    assert near((0xE8, 0xF1, 0xFB)) > 5000  # the handshake band


def test_standalone_svg_renders(tmp_path: pathlib.Path) -> None:
    svg = tmp_path / "ladder.svg"
    svg.write_text(_ladder().render_svg(), encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", svg.as_uri()).stdout
    assert "[SYN, ACK]" in dom and "Echo (ping) request" in dom
