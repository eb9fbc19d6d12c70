"""The command line of wirelab trace: help, one-line errors, the scope guard, privilege."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from wirelab.cli.main import cli


def wirelab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wirelab", "trace", *args],
                          capture_output=True, text=True, check=False, timeout=60,
                          env=env)


def test_help_has_examples() -> None:
    out = CliRunner().invoke(cli, ["trace", "--help"]).output
    assert "wirelab lab exec client -- wirelab trace remote" in out
    for option in ("--paris", "--report", "--json", "-q", "-m", "-w", "-n"):
        assert option in out


@pytest.mark.parametrize(("args", "message"), [
    (["-w", "x"], "wirelab: -w: bad wait 'x'"),
    (["-q", "0"], "wirelab: -q 0: 1..10 probes per hop"),
    (["-m", "300"], "wirelab: -m 300: 1..255 hops"),
    (["-I", "-T"], "wirelab: -I, -T and --method disagree"),
    (["-T", "--method", "icmp"], "wirelab: -I, -T and --method disagree"),
    (["--sport", "0"], "wirelab: --sport 0: a port is 1..65535"),
])
def test_bad_usage_is_one_line(args: list[str], message: str) -> None:
    done = wirelab("127.0.0.1", *args)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1


def test_ipv6_is_refused_in_one_line() -> None:
    done = wirelab("::1")
    assert done.returncode == 2
    assert done.stderr == "wirelab: ::1: IPv6 is not traced yet (IPv4 only)\n"


def test_outside_the_lab_is_refused() -> None:
    env = {k: v for k, v in os.environ.items() if k != "WIRELAB_LAB"}
    done = wirelab("192.0.2.1", env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("wirelab: refusing to trace 192.0.2.1: only loopback and the hosts "
                           "of a running lab may be traced (--i-own-this-network if it is yours)\n")
    done = wirelab("198.18.0.20", env=env)
    assert done.returncode == 2 and "from inside a lab host" in done.stderr


def test_override_tries_to_send_in_an_empty_netns() -> None:
    """--i-own-this-network lets the target through with a warning, so the trace really tries
    to send -- in a network namespace of our own with no interface up and no route, where the
    kernel refuses (no route) and nothing could leave the machine even so."""
    unshare = shutil.which("unshare")
    assert unshare is not None, "util-linux unshare is needed"
    user = [] if os.geteuid() == 0 else ["-r"]
    done = subprocess.run([unshare, *user, "-n", sys.executable, "-m", "wirelab", "trace",
                           "192.0.2.1", "--i-own-this-network", "-n", "-m", "2", "-q", "1"],
                          capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no network namespace here: {done.stderr.strip()}")
    assert done.stderr.splitlines() == [
        "wirelab: warning: tracing 192.0.2.1, outside the lab, because --i-own-this-network "
        "says you own that network",
        "wirelab: no route to 192.0.2.1: Network is unreachable"]
    assert done.returncode == 6  # a network error, not the scope refusal (2)


def test_without_cap_net_raw_one_line() -> None:
    """In a user namespace of our own we are "root" but hold no capability over the host's
    network namespace: the raw sockets are refused, as for an ordinary user."""
    argv = [sys.executable, "-m", "wirelab", "trace", "127.0.0.1"]
    if os.geteuid() == 0:
        unshare = shutil.which("unshare")
        assert unshare is not None, "util-linux unshare is needed"
        argv = [unshare, "-U", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if os.geteuid() == 0 and "unshare failed" in done.stderr:
        pytest.skip(f"no user namespaces here: {done.stderr.strip()}")
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("wirelab: trace sends raw probes and needs CAP_NET_RAW")
    assert done.stdout == ""  # not even the header: nothing was sent


@pytest.mark.parametrize("flag", [[], ["-I"], ["-T"]], ids=["udp", "icmp", "tcp"])
def test_loopback_same_as_traceroute(flag: list[str]) -> None:
    """In a network namespace of our own with only lo up (nothing can leave it), both tools
    trace 127.0.0.1 and print the same lines, times aside."""
    unshare = shutil.which("unshare")
    assert unshare is not None and shutil.which("traceroute") is not None
    user = [] if os.geteuid() == 0 else ["-r"]
    script = ("ip link set lo up && traceroute \"$@\" 127.0.0.1 && echo ---- && "
              f"{sys.executable} -m wirelab trace \"$@\" 127.0.0.1")
    # -w 5,0,0: no early give-up after 3x a 10 us RTT (see test_trace_lab.FLAT)
    done = subprocess.run([unshare, *user, "-n", "sh", "-c", script, "sh", *flag, "-w",
                           "5,0,0"],
                          capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no network namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    theirs, ours = done.stdout.split("----\n")
    times = re.compile(r"  \d+\.\d{3} ms")
    ours, theirs = times.sub("", ours), times.sub("", theirs)
    assert ours.splitlines() == theirs.splitlines()
    assert ours.splitlines()[1] == " 1  localhost (127.0.0.1)"  # three answers, times cut
