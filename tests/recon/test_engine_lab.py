"""The scan engine in the lab: templates, retransmission caps, progress, and a target behind
the router (probes then go to the router's MAC address), checked against nmap or the rules."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET

import pytest

from wirelab.lab.lab import Host, Lab

from .labutil import add_input_rules, run_ok

SERVER, REMOTE = "198.18.0.20", "198.18.1.10"
RULES = [
    ["-p", "tcp", "--dport", "81", "-j", "DROP"],
    ["-p", "tcp", "--dport", "82", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
]
EXPECTED = {22: "open", 23: "closed", 80: "open", 81: "filtered", 82: "filtered"}

SCAN = """
import json, sys
from wirelab.recon.scan import scan
calls = []
kind, target, timing = sys.argv[1], sys.argv[2], int(sys.argv[3])
retries = None if sys.argv[4] == "-" else int(sys.argv[4])
ports = [int(p) for p in sys.argv[5].split(",")] if "," in sys.argv[5] else list(
    range(1, int(sys.argv[5]) + 1))
r = scan(target, ports, kind, timing=timing, max_retries=retries,
         progress=lambda done, total: calls.append([done, total]))
print(json.dumps({"states": {p.port: str(p.state) for p in r.ports},
                  "tries": {p.port: p.tries for p in r.ports},
                  "timing": r.timing, "max_retries": r.max_retries, "progress": calls}))
"""


def scan(client: Host, kind: str, target: str, ports: str, timing: int = 4,
         retries: int | None = None) -> dict[str, dict[str, object]]:
    out = run_ok(client, [sys.executable, "-c", SCAN, kind, target, str(timing),
                          "-" if retries is None else str(retries), ports]).stdout
    result: dict[str, dict[str, object]] = json.loads(out)
    return result


@pytest.fixture(scope="module")
def firewalled(shared_lab: Lab) -> Lab:
    add_input_rules(shared_lab.host("server"), RULES)
    return shared_lab


@pytest.mark.lab
@pytest.mark.parametrize(("kind", "flag"), [("syn", "-sS"), ("connect", "-sT")])
def test_behind_the_router_equals_nmap(firewalled: Lab, kind: str, flag: str) -> None:
    client = firewalled.host("client")
    ours = scan(client, kind, REMOTE, "300")
    done = run_ok(client, ["nmap", flag, "-T4", "-Pn", "-n", "-p", "1-300", "-oX", "-", REMOTE])
    root = ET.fromstring(done.stdout)
    extra = {e.get("state") for e in root.iter("extraports")}
    listed = {p.get("portid"): p.find("state").get("state")  # type: ignore[union-attr]
              for p in root.iter("port")}
    theirs = {str(p): listed.get(str(p), next(iter(extra), None)) for p in range(1, 301)}
    assert ours["states"] == theirs


@pytest.mark.lab
@pytest.mark.parametrize("kind", ["syn", "connect"])
@pytest.mark.parametrize("timing", [3, 5])
def test_templates_give_the_same_states(firewalled: Lab, kind: str, timing: int) -> None:
    ours = scan(firewalled.host("client"), kind, SERVER, "22,23,80,81,82", timing)
    assert {int(p): s for p, s in ours["states"].items()} == EXPECTED
    assert ours["timing"] == timing
    assert ours["max_retries"] == {3: 10, 5: 2}[timing]
    assert ours["tries"]["81"] == 2  # the lab loses nothing: one retransmission, as nmap


@pytest.mark.lab
@pytest.mark.parametrize("kind", ["syn", "connect"])
def test_max_retries_zero_and_progress(firewalled: Lab, kind: str) -> None:
    ours = scan(firewalled.host("client"), kind, SERVER, "2000", retries=0)
    assert ours["max_retries"] == 0
    assert ours["tries"]["81"] == 1 and ours["states"]["81"] == "filtered"
    calls = ours["progress"]
    assert isinstance(calls, list) and calls[-1] == [2000, 2000]
    assert all(total == 2000 for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


LOOPBACK_UDP = """
import json, socket, threading
from wirelab.recon.scan import scan
echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); echo.bind(("127.0.0.1", 0))
mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); mute.bind(("127.0.0.1", 0))
gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); gone.bind(("127.0.0.1", 0))
closed = gone.getsockname()[1]; gone.close()
def serve():
    data, peer = echo.recvfrom(2048)
    echo.sendto(b"echo:" + data, peer)
threading.Thread(target=serve, daemon=True).start()
ports = [echo.getsockname()[1], mute.getsockname()[1], closed]
r = scan("127.0.0.1", ports, "udp")
print(json.dumps({"states": [str(r.state_of(p)) for p in ports], "notes": r.notes}))
"""


@pytest.mark.lab
def test_udp_on_loopback(shared_lab: Lab) -> None:
    # a replying service, a silent one, a closed port; Linux never rate-limits ICMP on
    # loopback, so no pacing and no note
    out = run_ok(shared_lab.host("client"), [sys.executable, "-c", LOOPBACK_UDP]).stdout
    result = json.loads(out)
    assert result == {"states": ["open", "open|filtered", "closed"], "notes": []}


FAST_PATHS = """
import json, sys
from wirelab.recon import syn
from wirelab.recon.scan import scan
seen = {}
close = syn.Prober.close
def spy(self):
    seen.update(link=self.on_link, ring=self.ring is not None)
    close(self)
syn.Prober.close = spy
r = scan(sys.argv[1], list(range(1, 101)), "syn")
seen["states"] = sorted({str(p.state) for p in r.ports})
print(json.dumps(seen))
"""


@pytest.mark.lab
def test_syn_fast_paths_in_use(firewalled: Lab) -> None:
    # after the first probes, SYNs leave as Ethernet frames and answers come from the ring
    # (both fall back silently where they cannot work: this says they did not, in the lab)
    out = run_ok(firewalled.host("client"), [sys.executable, "-c", FAST_PATHS, SERVER]).stdout
    assert json.loads(out) == {"link": True, "ring": True,
                               "states": ["closed", "filtered", "open"]}
