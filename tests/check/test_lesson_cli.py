"""``wirelab lesson``: finds docs/lessons in the checkout, renders Markdown, fails in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WIRELAB = [sys.executable, "-m", "wirelab", "lesson"]


def run(*args: str, lessons: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("WIRELAB_LESSONS", None)
    if lessons is not None:
        env["WIRELAB_LESSONS"] = str(lessons)
    return subprocess.run([*WIRELAB, *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_renders_a_lesson_as_markdown(tmp_path: Path) -> None:
    (tmp_path / "9.9-demo.md").write_text("# 9.9 Demo\n\nSome **bold** words.\n\n"
                                          "```\n$ wirelab check 9.9\n```\n")
    out = run("9.9", lessons=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "9.9 Demo" in out.stdout and "Some bold words." in out.stdout  # ** rendered away
    assert "**" not in out.stdout
    plain = run("9.9", "--plain", lessons=tmp_path)
    assert plain.stdout == (tmp_path / "9.9-demo.md").read_text()
    listing = run(lessons=tmp_path)
    assert listing.returncode == 0 and "9.9 Demo" in listing.stdout


def test_unknown_lesson_and_missing_folder_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "1.1-udp.md").write_text("# 1.1 UDP\n")
    out = run("7.7", lessons=tmp_path)
    assert out.returncode == 3
    assert out.stderr.strip().count("\n") == 0 and "no lesson '7.7'" in out.stderr
    gone = run("1.1", lessons=tmp_path / "nowhere")
    assert gone.returncode == 3 and "lessons not found" in gone.stderr
    assert "Traceback" not in gone.stderr + out.stderr


def test_finds_the_checkouts_own_lessons() -> None:
    repo_lessons = Path(__file__).resolve().parents[2] / "docs" / "lessons"
    out = run("1.3")
    assert out.returncode == 0, out.stderr
    first = (repo_lessons / "1.3-observing.md").read_text().splitlines()[0].lstrip("# ")
    assert first in out.stdout
