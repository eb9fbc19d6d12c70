"""Root conftest: the lab fixtures for every test, and the ``lab`` marker's one skip rule.

A test marked ``lab`` runs wherever a lab can be built: as root, or as an unprivileged user
when the kernel allows user namespaces.  Only where neither is possible is it skipped, and the
skip says why (the same one-line reason ``wirelab lab up`` would print).
"""

from __future__ import annotations

import pytest

pytest_plugins = ["wirelab.lab.fixtures"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    lab_items = [item for item in items if item.get_closest_marker("lab")]
    if not lab_items:
        return
    from wirelab.lab.privilege import available

    ok, reason = available()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"no lab possible here: {reason}")
    for item in lab_items:
        item.add_marker(skip)
