"""Rolling a release out in waves: ``--waves 1,25%,100%`` and ``--max-fail 10%``.

A wave is a batch of hosts (Ansible's ``serial``): a count, or a percentage of the
selected hosts. Every host of a wave is checked (health, then the manifest's sample
prediction) before the next wave starts; a host that fails its check goes back to its
previous release. When more than ``max_fail`` percent of a wave failed (Ansible's
``max_fail_percentage``), the rollout halts: the hosts of later waves are not touched
and keep their release (reported ``not_reached``).
"""

from __future__ import annotations

import re

from ..errors import DeployError

_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


def parse_waves(text: str | None) -> list[int | str] | None:
    """``"1,25%,100%"`` -> ``[1, "25%", "100%"]`` (None or empty: one wave of every host)."""
    if not text:
        return None
    waves: list[int | str] = []
    for part in (p.strip() for p in str(text).split(",")):
        m = _PERCENT.match(part)
        if m and 0 < float(m.group(1)) <= 100:
            waves.append(part)
        elif part.isdigit() and int(part) > 0:
            waves.append(int(part))
        else:
            raise DeployError(
                f"--waves: {part!r} is neither a host count nor a percentage; write e.g. --waves 1,25%,100% "
                "(a wave of 1 host, then 25% of the hosts at a time, then the rest)."
            )
    return waves


def parse_max_fail(text: str | int | None) -> int | None:
    """``"10%"`` or ``10`` -> 10 (percent of a wave that may fail before the rollout halts)."""
    if text is None or text == "":
        return None
    s = str(text).strip().rstrip("%")
    if not s.isdigit() or int(s) > 100:
        raise DeployError(f"--max-fail: {text!r} is not a percentage from 0% to 100%; write e.g. --max-fail 10%.")
    return int(s)
