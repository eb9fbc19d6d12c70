"""First lab tests: the default lab comes up, hosts talk, names resolve."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab


def test_ping_client_to_server(lab):
    result = lab.host("client").run(["ping", "-c", "2", "-i", "0.2", "-W", "2", "server"])
    assert result.returncode == 0, result.stderr
    assert "2 received" in result.stdout


def test_names_resolve_inside_host(lab):
    result = lab.host("client").run(["getent", "hosts", "server"])
    assert result.returncode == 0
    assert result.stdout.split()[0] == lab.host("server").ip == "198.18.0.20"
