"""pytest fixtures for lab tests (pyroute2's fixture idea: a uniquely named lab, yielded, and
always removed, whatever the test did).

Registered for the whole suite by ``tests/conftest.py`` (``pytest_plugins``).  Mark lab tests
``@pytest.mark.lab``; they are skipped, with the reason, only where neither root nor
unprivileged user namespaces are available.

- ``lab``: a fresh ``default`` lab for one test (about 0.3 s with its services);
- ``shared_lab``: one ``default`` lab for a whole test module: faster, but tests must not
  shape its links or leave processes behind;
- ``make_lab(topology="default", services=True)``: any topology, as many as the test wants,
  all removed after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from wirelab.lab.lab import Lab, unique_name
from wirelab.lab.topology import Topology

MakeLab = Callable[..., Lab]


def _name() -> str:
    # Unique across parallel pytest processes (PID) and within one (counter).
    return unique_name("t")


@pytest.fixture
def make_lab() -> Iterator[MakeLab]:
    made: list[Lab] = []

    def _make(topology: Topology | str = "default", *, services: bool = True,
              name: str | None = None) -> Lab:
        lab = Lab(topology, name or _name(), services=services)
        made.append(lab)
        return lab.up()

    try:
        yield _make
    finally:
        errors = []
        for lab in reversed(made):
            try:
                lab.down()
            except Exception as exc:  # keep removing the others, then report
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture
def lab(make_lab: MakeLab) -> Lab:
    return make_lab("default")


@pytest.fixture(scope="module")
def shared_lab() -> Iterator[Lab]:
    with Lab("default", _name()) as built:
        yield built
