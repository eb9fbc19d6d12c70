"""`down` removes exactly what `up` made: after a clean run, twice, and after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from wirelab.errors import LabError
from wirelab.lab import lifecycle, privilege
from wirelab.lab.lab import Lab, unique_name
from wirelab.lab.state import LabDir, LabState

from .helpers import assert_lab_gone, lab_inodes, processes_in, root_snapshot

pytestmark = pytest.mark.lab

BUILDER = """
import sys, time
from wirelab.lab.lab import Lab
lab = Lab(sys.argv[1], sys.argv[2]).up()
print("up", flush=True)
time.sleep(600)
"""


def _name() -> str:
    return unique_name("k")


def test_down_removes_everything_and_is_idempotent() -> None:
    before = root_snapshot()
    lab = Lab("default", _name()).up()
    assert lab.state is not None
    state = LabDir(lab.name).load()
    identities = lab_inodes(state)
    # something stray in the lab too: a command nobody recorded
    stray = lab.host("client").popen(["sleep", "300"])
    assert processes_in(identities, state.mode)
    removed = lab.down()
    assert any(r.startswith("service http") for r in removed)
    assert any(f"pid {stray.pid}" in r for r in removed)
    stray.wait(5)
    assert_lab_gone(lab.name, state, identities)
    assert lifecycle.down(lab.name) == []  # again: nothing to do, no error
    assert root_snapshot() == before


def _spawn_builder(topology: str, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", BUILDER, topology, name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


@contextmanager
def _builder(topology: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A lab built by a separate process (to be SIGKILLed by the test); the builder and the
    lab are gone when the block ends, whatever happened in it."""
    name = _name()
    builder = _spawn_builder(topology, name)
    try:
        yield name, builder
    finally:
        if builder.poll() is None:
            _kill(builder)
        lifecycle.down(name)


def _down_leaves_nothing(name: str, state: LabState, identities: set[str],
                         before: dict[str, Any]) -> None:
    """``down`` of the orphaned lab removes something, and then nothing of it is left."""
    removed = lifecycle.down(name)
    assert removed
    assert_lab_gone(name, state, identities)
    assert root_snapshot() == before


def test_down_after_sigkill_of_the_builder_after_up() -> None:
    before = root_snapshot()
    with _builder("default") as (name, builder):
        assert builder.stdout is not None
        assert builder.stdout.readline().strip() == "up", builder.stderr.read()  # type: ignore
        state = LabDir(name).load()
        identities = lab_inodes(state)
        _kill(builder)
        # The lab outlived its builder: its services still answer.
        assert all(s.alive() for s in state.services)
        assert Lab.attach(name).host("client").run(["getent", "hosts", "server"]).returncode == 0
        _down_leaves_nothing(name, state, identities, before)


def _wait_mid_build(name: str, builder: subprocess.Popen[str]) -> LabState:
    """Poll until the builder has created some namespaces but not finished."""
    deadline = time.monotonic() + 30
    ldir = LabDir(name)
    while time.monotonic() < deadline:
        assert builder.poll() is None, builder.stderr.read()  # type: ignore[union-attr]
        if ldir.exists():
            state = ldir.load()
            made = [p for p in state.netns.values() if os.path.exists(p)]
            if len(made) >= 5:
                return state
        time.sleep(0.002)
    raise AssertionError("the builder never got half-way")


def test_down_after_sigkill_of_the_builder_mid_way() -> None:
    before = root_snapshot()
    with _builder("star:200") as (name, builder):
        _wait_mid_build(name, builder)
        _kill(builder)
        state = LabDir(name).load()
        assert state.status == "building", "the builder finished before we killed it"
        identities = lab_inodes(state) if state.mode == "root" or (
            state.keeper and state.keeper.alive()) else set()
        _down_leaves_nothing(name, state, identities, before)


def test_up_on_a_stale_lab_cleans_it_first() -> None:
    with _builder("default") as (name, builder):
        assert builder.stdout is not None
        assert builder.stdout.readline().strip() == "up"
        old = LabDir(name).load()
        _kill(builder)
        with Lab("default", name) as lab:
            assert any("already existed" in m and "removed it first" in m
                       for m in lab.messages), lab.messages
            assert not any(s.alive() for s in old.services)
            result = lab.host("client").run(["ping", "-c", "1", "-W", "2", "server"])
            assert result.returncode == 0


def test_a_failed_up_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that fails half-way (here: a service that cannot start) is rolled back."""
    before = root_snapshot()
    name = _name()
    monkeypatch.setattr(lifecycle, "SERVICE_READY_SECONDS", 0.0)
    lab = Lab("default", name)
    with pytest.raises(LabError, match="did not start"):
        lab.up()
    assert not LabDir(name).path.exists()
    mode = privilege.mode()
    for host in [*lab.plan.hosts, "_switch"]:
        assert not os.path.exists(LabDir(name).netns_path(host, mode))
    assert root_snapshot() == before


def test_down_after_the_keeper_was_killed() -> None:
    """Rootless: SIGKILL the keeper; the lab's processes still go, found by their namespace."""
    lab = Lab("default", _name()).up()
    try:
        if lab.mode != "rootless":
            pytest.skip("root labs have no keeper")
        state = LabDir(lab.name).load()
        identities = lab_inodes(state)
        stray = lab.host("client").popen(["sleep", "300"])
        assert state.keeper is not None
        os.kill(state.keeper.pid, signal.SIGKILL)
        # SIGKILL is delivered asynchronously: wait (bounded) until the keeper is really gone.
        deadline = time.monotonic() + 10
        while state.keeper.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        status = lab.status()
        assert status["status"] == "broken" and "keeper" in status["problem"]
        removed = lab.down()
        assert any(f"pid {stray.pid}" in r for r in removed), removed
        assert_lab_gone(lab.name, state, identities)
    finally:
        lab.down()
