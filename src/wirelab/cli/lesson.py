"""``wirelab lesson N``: an exercise's lesson (docs/lessons/N-*.md) in the terminal.

The lessons live in the repository, next to the code they describe, and are read from the
source checkout wirelab runs from (an editable install).  An installation without the
checkout says so in one line instead of pretending there are no lessons.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from wirelab.errors import ExitCode, WirelabError


class LessonError(WirelabError):
    exit_code = ExitCode.BAD_INPUT


def lessons_dir() -> Path:
    """``$WIRELAB_LESSONS``, else docs/lessons of the checkout this package was loaded from."""
    override = os.environ.get("WIRELAB_LESSONS")
    if override:
        return Path(override)
    import wirelab

    return Path(wirelab.__file__).resolve().parents[2] / "docs" / "lessons"


def find_lessons(folder: Path) -> dict[str, Path]:
    """``{"2.2": docs/lessons/2.2-handshake.md, ...}`` (README.md excluded)."""
    if not folder.is_dir():
        raise LessonError(f"lessons not found: no folder {folder} (they ship in the source "
                          "checkout; install wirelab with `pip install -e` from it, or set "
                          "WIRELAB_LESSONS)")
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.md")):
        number = path.stem.split("-", 1)[0]
        if path.name != "README.md" and number not in found:
            found[number] = path
    return found


def _sort_key(number: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in number.split("."))


@click.command(epilog="""\b
Examples:
  wirelab lesson            (lists the lessons)
  wirelab lesson 2.2        (the handshake by hand)
  wirelab lesson 1.3 --plain | less
""")
@click.argument("number", required=False)
@click.option("--plain", is_flag=True, help="Print the Markdown source as it is.")
def lesson(number: str | None, plain: bool) -> None:
    """Print lesson NUMBER (e.g. 2.2) from docs/lessons, or list them."""
    found = find_lessons(lessons_dir())
    if number is None:
        index = lessons_dir() / "README.md"
        if not found:
            raise LessonError(f"no lessons in {lessons_dir()}")
        for key in sorted(found, key=_sort_key):
            title = _title(found[key])
            click.echo(title if title.startswith(key) else f"{key} {title}")
        click.echo(f"\nread one with: wirelab lesson {min(found, key=_sort_key)}"
                   + (f"   (index: {index})" if index.exists() else ""))
        return
    if number not in found:
        have = ", ".join(sorted(found, key=_sort_key)) or "none"
        raise LessonError(f"no lesson {number!r} in {lessons_dir()} (there are: {have})")
    text = found[number].read_text()
    if plain:
        click.echo(text, nl=False)
        return
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(text))


def _title(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return path.stem
