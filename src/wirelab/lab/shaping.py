"""Link shaping as a value: delay, jitter, loss, reordering (netem) and a rate (tbf).

Pure: parsing the tc-style strings users type (``20ms``, ``2%``, ``10mbit``) and printing them
back.  Applying a shaping to an interface is the driver's job (:mod:`wirelab.lab.driver`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from wirelab.errors import LabError

_TIME = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(us|usec|ms|msec|s|sec)?\s*$")
_PERCENT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*%?\s*$")
_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmg]?)(bit|bps)?\s*$", re.IGNORECASE)
_TIME_MS = {"us": 0.001, "usec": 0.001, "ms": 1.0, "msec": 1.0, "s": 1000.0, "sec": 1000.0}
_RATE_MULT = {"": 1, "k": 1000, "m": 1000_000, "g": 1000_000_000}


def parse_time_ms(text: str | float | int) -> float:
    """``"20ms"`` -> 20.0; a bare number is milliseconds (as in tc-netem(8))."""
    if isinstance(text, (int, float)):
        return float(text)
    match = _TIME.match(text)
    if not match:
        raise LabError(f"bad time {text!r}: expected e.g. 20ms, 1.5s, 500us")
    return float(match.group(1)) * _TIME_MS[(match.group(2) or "ms").lower()]


def parse_percent(text: str | float | int) -> float:
    """``"2%"`` or ``2`` -> 2.0, checked to lie in 0..100."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _PERCENT.match(text)
        if not match:
            raise LabError(f"bad percentage {text!r}: expected e.g. 2%")
        value = float(match.group(1))
    if not 0.0 <= value <= 100.0:
        raise LabError(f"percentage {value} out of range 0..100")
    return value


def parse_rate_bps(text: str | int) -> int:
    """``"10mbit"`` -> 10_000_000 bits per second (``bps`` = bytes, as tc(8) reads it)."""
    if isinstance(text, int):
        return text
    match = _RATE.match(text)
    if not match:
        raise LabError(f"bad rate {text!r}: expected e.g. 10mbit, 512kbit")
    bits = float(match.group(1)) * _RATE_MULT[match.group(2).lower()]
    if (match.group(3) or "bit").lower() == "bps":
        bits *= 8
    if bits < 8000:
        raise LabError(f"rate {text!r} below 8kbit is not supported")
    return int(bits)


def _fmt_ms(value: float) -> str:
    return f"{value:g}ms"


def _fmt_rate(bps: int) -> str:
    for unit, mult in (("gbit", 1000_000_000), ("mbit", 1000_000), ("kbit", 1000)):
        if bps >= mult and bps % mult == 0:
            return f"{bps // mult}{unit}"
    return f"{bps}bit"


@dataclass(frozen=True)
class Shaping:
    """What a link does to the packets leaving an interface.  All None = unshaped."""

    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None
    reorder_pct: float | None = None
    rate_bps: int | None = None

    @classmethod
    def parse(cls, delay: str | float | None = None, jitter: str | float | None = None,
              loss: str | float | None = None, rate: str | int | None = None,
              reorder: str | float | None = None) -> Shaping:
        """Build from the strings of the CLI or a topology file, checking each."""
        shaping = cls(
            delay_ms=None if delay is None else parse_time_ms(delay),
            jitter_ms=None if jitter is None else parse_time_ms(jitter),
            loss_pct=None if loss is None else parse_percent(loss),
            reorder_pct=None if reorder is None else parse_percent(reorder),
            rate_bps=None if rate is None else parse_rate_bps(rate),
        )
        shaping.validate()
        return shaping

    def validate(self) -> None:
        # netem reorders by sending some packets at once while the others wait out the delay
        # (tc-netem(8) "reorder"): without a delay there is nothing to jump ahead of.
        if self.reorder_pct and not self.delay_ms:
            raise LabError("--reorder needs a --delay (netem reorders by not delaying some "
                           "packets)")
        if self.jitter_ms and not self.delay_ms:
            raise LabError("--jitter needs a --delay")

    @property
    def empty(self) -> bool:
        return all(v is None or v == 0 for v in asdict(self).values())

    @property
    def needs_netem(self) -> bool:
        return bool(self.delay_ms or self.jitter_ms or self.loss_pct or self.reorder_pct)

    def describe(self) -> str:
        """tc-style text: ``delay 20ms jitter 5ms loss 2% reorder 5% rate 10mbit``."""
        parts = []
        if self.delay_ms:
            parts.append(f"delay {_fmt_ms(self.delay_ms)}")
        if self.jitter_ms:
            parts.append(f"jitter {_fmt_ms(self.jitter_ms)}")
        if self.loss_pct:
            parts.append(f"loss {self.loss_pct:g}%")
        if self.reorder_pct:
            parts.append(f"reorder {self.reorder_pct:g}%")
        if self.rate_bps:
            parts.append(f"rate {_fmt_rate(self.rate_bps)}")
        return " ".join(parts) or "none"

    def to_dict(self) -> dict[str, float | int]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, float | int]) -> Shaping:
        return cls(**data)  # type: ignore[arg-type]
