"""On-the-wire checks: each exercise's "Testing and Verification", verified on a capture.

For 1.1, 1.2, 1.4, 2.1, 2.2, 2.3 and 2.4 a check runs the exercise in the lab -- wirelab's own
implementation, or the learner's program in the ``client`` host with the counterpart the
curriculum needs in ``server`` -- captures the client's link with tcpdump, and judges the
packets, not the program's output::

    from pathlib import Path
    from wirelab.check import lab_for_checks, run_check

    with lab_for_checks(None) as lab:                       # or the name of a running lab
        result = run_check("2.2", lab, Path("results/check-2.2"))
        result = run_check("1.1", lab, Path("out"), program=["python3", "udp_client.py"])
    print(result.line())           # PASS 2.2 (TCP handshake by hand): SYN 40000->80 ...
    print(result.ladder_text)      # the ladder of what was seen

Modules: :mod:`.model` (Exercise, Verdict, CheckResult), :mod:`.runner` (the I/O),
:mod:`.program` (running a program bounded in time), :mod:`.module1` and :mod:`.module2` (one
verifier per exercise), :mod:`.facts` and :mod:`.counts` (questions asked of a capture).
"""

from __future__ import annotations

from wirelab.check.model import CheckResult, Evidence, Exercise, Verdict
from wirelab.check.runner import exercise, exercises, lab_for_checks, run_check

__all__ = ["CheckResult", "Evidence", "Exercise", "Verdict", "exercise", "exercises",
           "lab_for_checks", "run_check"]
