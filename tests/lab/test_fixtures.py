"""The fixtures themselves: a failing test still leaves no lab behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wirelab.lab.state import LabDir

pytestmark = pytest.mark.lab

INNER = '''
import pytest

pytestmark = pytest.mark.lab

def test_fails(lab, make_lab):
    other = make_lab("star:2", services=False)
    open({out!r}, "w").write(lab.name + " " + other.name)
    assert lab.host("client").run(["true"]).returncode == 0
    raise AssertionError("on purpose")
'''


def test_labs_are_removed_when_the_test_fails(tmp_path: Path) -> None:
    out = tmp_path / "names"
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(INNER.format(out=str(out)))
    conftest = Path(__file__).resolve().parents[1] / "conftest.py"
    (tmp_path / "conftest.py").write_text(conftest.read_text())
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(test_file), "--rootdir", str(tmp_path)],
                            capture_output=True, text=True, cwd=tmp_path,
                            env=dict(os.environ), timeout=120)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "on purpose" in result.stdout
    names = out.read_text().split()
    assert len(names) == 2
    for name in names:
        assert not LabDir(name).path.exists(), f"lab {name} was left behind"


def test_shared_lab_is_one_lab(shared_lab, request) -> None:  # type: ignore[no-untyped-def]
    again = request.getfixturevalue("shared_lab")
    assert again is shared_lab
    assert shared_lab.state is not None and shared_lab.state.status == "up"
