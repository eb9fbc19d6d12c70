"""The ``wirelab`` command itself: help, version, and help with an example everywhere."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from wirelab import __version__
from wirelab.cli.main import cli


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wirelab", *args], capture_output=True,
                          text=True)


def test_version() -> None:
    res = run("--version")
    assert res.returncode == 0 and __version__ in res.stdout


def test_help_lists_commands() -> None:
    res = run("--help")
    assert res.returncode == 0
    assert "dissect" in res.stdout and "Example" in res.stdout


def _all_commands() -> list[tuple[str, ...]]:
    ctx = click.Context(cli)
    found: list[tuple[str, ...]] = []

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            assert cmd is not None
            found.append(prefix + (name,))
            if isinstance(cmd, click.Group):
                walk(cmd, prefix + (name,))

    walk(cli, ())
    return found


@pytest.mark.parametrize("path", _all_commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    res = run(*path, "--help")
    assert res.returncode == 0, res.stderr
    assert "Example" in res.stdout, f"wirelab {' '.join(path)} --help shows no example"


def test_unknown_command_is_a_usage_error() -> None:
    res = run("no-such-command")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_ctx_exit_status_reaches_the_shell() -> None:
    """A command that ends with ctx.exit(N) must exit N (click returns it, not raises)."""
    code = (
        "import sys, click\n"
        "from wirelab.cli import main as m\n"
        "@m.cli.command('zz-exit')\n"
        "@click.pass_context\n"
        "def zz(ctx):\n"
        "    ctx.exit(7)\n"
        "m.LazyGroup.get_command = lambda self, ctx, name: zz if name == 'zz-exit' else None\n"
        "m.main(['zz-exit'])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 7, res.stderr
