"""The retransmission time-out, from measured round trips (RFC 6298 section 2).

SRTT and RTTVAR follow each sample (alpha 1/8, beta 1/4) and RTO = SRTT + 4 * RTTVAR, clamped
to bounds.  The bounds are nmap's -T4 values (initial 500 ms, minimum 100 ms, maximum 1250 ms)
because the lab is a fast local network; there are no -T templates yet.
"""

from __future__ import annotations

from dataclasses import dataclass

INITIAL_RTO = 0.5
MIN_RTO = 0.1
MAX_RTO = 1.25


@dataclass(slots=True)
class RTOEstimator:
    srtt: float | None = None
    rttvar: float = 0.0
    initial: float = INITIAL_RTO
    minimum: float = MIN_RTO
    maximum: float = MAX_RTO

    def sample(self, rtt: float) -> None:
        if self.srtt is None:  # first measurement (RFC 6298 2.2)
            self.srtt, self.rttvar = rtt, rtt / 2
            return
        self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)  # 2.3
        self.srtt = 0.875 * self.srtt + 0.125 * rtt

    @property
    def rto(self) -> float:
        if self.srtt is None:
            return self.initial
        return min(self.maximum, max(self.minimum, self.srtt + 4 * self.rttvar))
