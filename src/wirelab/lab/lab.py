"""The Python API of the lab: :class:`Lab`, its :class:`Host` objects, and :class:`LinkHandle`.

See the package docstring (:mod:`wirelab.lab`) for a tour.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from wirelab.errors import LabError
from wirelab.lab import enter, lifecycle
from wirelab.lab import topology as topo_mod
from wirelab.lab.capture import Capture
from wirelab.lab.plan import Interface, Plan, plan_topology
from wirelab.lab.shaping import Shaping
from wirelab.lab.state import LabDir, LabState
from wirelab.lab.topology import Topology

T = TypeVar("T")
_counter = itertools.count(1)


def unique_name(prefix: str = "py") -> str:
    """A lab name no other process picks: prefix, our PID, a counter."""
    return f"{prefix}{os.getpid()}-{next(_counter)}"


class Lab:
    """A lab: ``with Lab("default") as lab: ...`` brings it up and always removes it."""

    def __init__(self, topology: Topology | str = "default", name: str | None = None, *,
                 services: bool = True) -> None:
        self.topology = topo_mod.load(topology) if isinstance(topology, str) else topology
        self.plan: Plan = plan_topology(self.topology)  # a bad topology fails before anything
        self.name = name or unique_name()
        LabDir(self.name)  # checks the name
        self.services = services
        self.state: LabState | None = None
        self.messages: list[str] = []  # what `up` had to say (e.g. a stale lab removed)
        self._children: list[subprocess.Popen[Any]] = []

    @classmethod
    def attach(cls, name: str) -> Lab:
        """The lab ``name`` that is already up (built by this or another process)."""
        state = LabDir(name).load()
        lab = cls(Topology.from_dict(state.topology), name, services=state.services_enabled)
        lab.state = state
        return lab

    # -- life ---------------------------------------------------------------------------------

    def up(self) -> Lab:
        if self.state is not None:
            raise LabError(f"lab {self.name} is already up")
        self.state = lifecycle.up(self.name, self.topology, self.plan, self.services,
                                  self.messages, self._children)
        return self

    def down(self) -> list[str]:
        """Remove the lab (idempotent); return what was removed."""
        removed = lifecycle.down(self.name, self._children)
        self._children.clear()
        self.state = None
        return removed

    def __enter__(self) -> Lab:
        return self.up() if self.state is None else self

    def __exit__(self, *exc: object) -> None:
        self.down()

    @property
    def mode(self) -> str:
        return self._state().mode

    def _state(self) -> LabState:
        if self.state is None:
            raise LabError(f"lab {self.name} is not up")
        return self.state

    def refresh(self) -> LabState:
        """Re-read the record (another process may have shaped a link)."""
        self.state = LabDir(self.name).load()
        return self.state

    # -- parts --------------------------------------------------------------------------------

    @property
    def hosts(self) -> list[Host]:
        return [Host(self, name) for name in self.plan.hosts]

    def host(self, name: str) -> Host:
        self.plan.address(name)  # raises LabError for an unknown host
        return Host(self, name)

    def link(self, a: str, b: str) -> LinkHandle:
        return LinkHandle(self, a, b)

    @property
    def dns_server(self) -> str | None:
        dns = self.plan.dns_host()
        return str(self.plan.address(dns)) if dns and self.services else None

    def capture(self, host: str, path: str | os.PathLike[str], *, iface: str | None = None,
                bpf: str | None = None, count: int | None = None,
                duration: float | None = None) -> Capture:
        """A tcpdump in ``host`` writing ``path``; start it with ``with`` or ``.start()``."""
        return Capture(self.host(host), path, iface, bpf, count, duration)

    def status(self, live: bool = True) -> dict[str, Any]:
        from wirelab.lab.status import lab_status

        return lab_status(self.refresh(), self.plan, live)


class Host:
    """One host of a lab.  Commands run inside it see its interfaces and the lab's names."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name

    def __repr__(self) -> str:
        return f"Host({self.name!r}, ip={self.ip!r}, lab={self.lab.name!r})"

    @property
    def interfaces(self) -> list[Interface]:
        return self.lab.plan.interfaces[self.name]

    @property
    def ip(self) -> str:
        """The host's first address, e.g. ``"198.18.0.20"``."""
        return str(self.lab.plan.address(self.name))

    @property
    def addresses(self) -> list[str]:
        return [str(i.address.ip) for i in self.interfaces]

    @property
    def netns(self) -> str:
        return self.lab._state().netns[self.name]

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """``subprocess.Popen`` inside the host; same keyword arguments."""
        return lifecycle.popen_in(self.lab._state(), self.name, list(argv), **kwargs)

    def run(self, argv: Sequence[str], *, timeout: float | None = 60.0, check: bool = False,
            input: str | bytes | None = None, text: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[Any]:
        """Run a command in the host and collect its output (``stdout``, ``stderr``, codes)."""
        state = self.lab._state()
        proc = self.popen(argv, stdin=subprocess.PIPE if input is not None else
                          subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=text, env=lifecycle.lab_env(state, self.name, env))
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        result = subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
        if check:
            result.check_returncode()
        return result

    def sysctl(self, settings: Mapping[str, object] | None = None,
               keys: Sequence[str] = ()) -> dict[str, str | None]:
        """Set ``settings`` in this host's namespace (recorded), or read ``keys``.

        ``host.sysctl({"net.ipv4.icmp_ratelimit": 0})`` changes this host only, never the
        machine; the values are returned as the kernel has them afterwards.
        """
        from wirelab.lab import status, sysctl

        if settings:
            clean = {sysctl.check_key(k, "sysctl"): sysctl.normalise(v, k)
                     for k, v in settings.items()}
            return status.set_sysctls(self.lab, self.name, clean)
        return status.get_sysctls(self.lab, self.name,
                                  [sysctl.check_key(k, "sysctl") for k in keys])

    def icmp_ratelimit(self, on: bool) -> dict[str, str | None]:
        """Lift (False) or restore (True) the kernel's ICMP error rate limits in this host."""
        from wirelab.lab.sysctl import RATELIMIT_OFF, RATELIMIT_ON

        return self.sysctl(dict(RATELIMIT_ON if on else RATELIMIT_OFF))

    def call(self, func: Callable[..., T], *args: Any, timeout: float | None = 60.0) -> T:
        """Run a Python function inside the host (in a forked child); return its result.

        The function and result must be picklable; exceptions come back as raised.
        """
        state = self.lab._state()
        with enter.Entry(lifecycle.host_target(state, self.name)) as entry:
            return enter.call(entry, func, *args, timeout=timeout)


class LinkHandle:
    """The link between two hosts that share a segment or a cable, for shaping it."""

    def __init__(self, lab: Lab, a: str, b: str) -> None:
        self.lab = lab
        self.a, self.b = lab.plan.facing(a, b)

    def shape(self, delay: str | float | None = None, jitter: str | float | None = None,
              loss: str | float | None = None, rate: str | int | None = None,
              reorder: str | float | None = None) -> Shaping:
        """Shape both directions: each host's egress toward the other (netem, tbf).

        ``delay="50ms"`` on both ends makes the round trip at least 100 ms.  On a shared
        segment the host's other traffic on that interface is shaped too.
        """
        shaping = Shaping.parse(delay, jitter, loss, rate, reorder)
        from wirelab.lab.status import apply_shaping

        apply_shaping(self.lab, [self.a, self.b], shaping)
        return shaping

    def clear(self) -> None:
        from wirelab.lab.status import apply_shaping

        apply_shaping(self.lab, [self.a, self.b], Shaping())


__all__ = ["Host", "Lab", "LinkHandle"]
