"""Module 1 in the lab: ``client`` and ``server`` are real hosts (namespaces) on a link."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from wirelab.lab import Lab

from ..helpers import reaped, tshark_fields
from .helpers import WIRELAB, read_until

pytestmark = pytest.mark.lab

GOOD = "1"  # Wireshark's PROTO_CHECKSUM_E_GOOD


def _tshark(path: Path, *fields: str) -> list[list[str]]:
    """UDP frames only, with tshark checking the UDP checksum (so .status is 1 or 2)."""
    return tshark_fields(path, *fields, display="udp", options=("-o", "udp.check_checksum:TRUE"))


def test_raw_udp_from_client_reaches_udp_serve_on_server(shared_lab: Lab,
                                                         tmp_path: Path) -> None:
    client, server = shared_lab.host("client"), shared_lab.host("server")
    serve = server.popen([WIRELAB, "udp", "serve", "--bind", "0.0.0.0", "--port", "8000",
                          "--json", "-c", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with reaped(serve):
        read_until(serve, b"listening on")
        pcap = tmp_path / "link.pcap"
        with shared_lab.capture("server", pcap, bpf="udp port 8000"):
            sent = client.run([WIRELAB, "raw", "udp", "server", "--dport", "8000",
                               "--sport", "12345", "--payload", "across the link"])
            assert sent.returncode == 0, sent.stderr
            out, err = serve.communicate(timeout=10)
    got = json.loads(out.splitlines()[0])
    assert (got["src"], got["sport"], got["payload"]) == (client.ip, 12345, "across the link")
    assert _tshark(pcap, "ip.src", "udp.srcport", "udp.dstport", "udp.checksum.status") == [
        [client.ip, "12345", "8000", GOOD]]


def _lab_exec(lab: Lab, host: str, *argv: str) -> subprocess.CompletedProcess[bytes]:
    """``wirelab lab exec HOST -- ARGV`` with the venv's ``wirelab`` on PATH inside."""
    env = dict(os.environ)
    env["PATH"] = str(Path(WIRELAB).parent) + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    return subprocess.run([WIRELAB, "lab", "exec", "--name", lab.name, host, "--", *argv],
                          capture_output=True, env=env, timeout=60, check=False)


def test_http_get_through_lab_exec_returns_the_origins_json(shared_lab: Lab) -> None:
    result = _lab_exec(shared_lab, "client", "wirelab", "http", "get", "http://server/get")
    assert result.returncode == 0, result.stderr
    echo = json.loads(result.stdout)
    assert (echo["method"], echo["path"]) == ("GET", "/get")
    assert echo["origin"] == shared_lab.host("client").ip
    assert echo["headers"]["Connection"] == "close"


@pytest.mark.parametrize("path", ["/stream-bytes/300000?seed=7&chunk_size=4000",
                                  "/bytes/300000?seed=7", "/status/204", "/status/404"])
def test_lab_origin_bodies_equal_curls(shared_lab: Lab, path: str) -> None:
    client = shared_lab.host("client")
    ours = client.run([WIRELAB, "http", "get", "http://server" + path], text=False)
    theirs = client.run(["curl", "-s", "http://server" + path], text=False)
    assert ours.returncode == 0 and theirs.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout
    if "bytes" in path:
        assert len(ours.stdout) == 300000
