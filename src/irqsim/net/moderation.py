"""Interrupt moderation: the ethtool coalescing contract and the four timer variants
(shared/reference/nic-moderation.md section 3), computed analytically over completion times.

A device keeps, per vector, the instant ``last`` its counters restarted (its last interrupt)
and sees completions at sorted instants. Given the completions after ``last``,
:func:`fire_time` returns the earliest instant the vector fires:

* NONE (usecs 0, frames 1): at the first completion.
* ABSOLUTE: ``t_first + usecs`` or the ``frames``-th completion, whichever is first.
* PACKET: the first quiet gap of ``usecs`` after a completion (``c_j + usecs`` when the next
  completion comes later than that) or the ``frames``-th completion.
* INTERVAL (throttle/ITR): a completion is pending and ``usecs`` have passed since the last
  interrupt (the first completion after an idle interval fires at once), or ``frames``.

An ITR minimum gap (``itr_ns``) applies on top of every mode (e1000: "InterruptThrottleRate
takes precedence"): the fire time is at least ``last + itr_ns``. A decision reached while the
vector is masked waits for the unmask: the caller passes ``not_before`` (the unmask instant).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from irqsim.spec.nic import MODE_ABSOLUTE, MODE_INTERVAL, MODE_NAMES, MODE_NONE, MODE_PACKET

MODES = {v: k for k, v in MODE_NAMES.items()}


@dataclass
class Coalesce:
    """One direction's ``ethtool -C`` settings for a vector (usecs are microseconds, as
    ethtool has them; ``adaptive``: the driver's DIM owns usecs/frames)."""

    usecs: int = 0
    frames: int = 1
    mode: str = "absolute"
    itr_usecs: int = 0
    adaptive: bool = False

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """ETHC: usecs 0 and frames 0 is invalid (nothing would ever fire)."""
        if self.mode not in MODES:
            raise ValueError(f"coalescing mode must be one of {sorted(MODES)}, got "
                             f"{self.mode!r}")
        if self.usecs < 0 or self.frames < 0 or self.itr_usecs < 0:
            raise ValueError("coalescing values must be >= 0")
        if self.usecs == 0 and self.frames == 0:
            raise ValueError("rx-usecs 0 and rx-frames 0: invalid (no condition would ever "
                             "fire; 'no coalescing' is rx-usecs 0 rx-frames 1)")

    @property
    def mode_code(self) -> int:
        return MODE_NONE if self.usecs == 0 and self.frames == 1 and not self.itr_usecs \
            else MODES[self.mode]


def fire_time(mode: int, usecs_ns: int, frames: int, itr_ns: int, last: int,
              comps: Callable[[int], list[int]], not_before: int,
              nth: Callable[[int], int | None] | None = None) -> int | None:
    """Earliest instant >= ``not_before`` at which the vector fires, or None if the known
    completions never make it fire. ``comps(n)`` returns up to ``n`` completion instants
    after ``last`` in order (fewer when the traffic ends); it may be called with growing n.
    ``nth(i)``, if given, is ``comps(i + 1)[i]`` (None when there are fewer): the single
    completions the first and the frames condition read, without building the list."""
    if nth is None:
        first = comps(1)
        t_first = first[0] if first else None
    else:
        t_first = nth(0)
    if t_first is None:
        return None
    inf = 1 << 62
    cand = inf
    if frames > 0:
        if nth is None:
            c = comps(frames)
            if len(c) >= frames:
                cand = c[frames - 1]
        else:
            f = nth(frames - 1)
            if f is not None:
                cand = f
    if mode == MODE_NONE or (usecs_ns == 0 and frames <= 1):
        cand = t_first
    elif mode == MODE_ABSOLUTE:
        if usecs_ns > 0:
            cand = min(cand, t_first + usecs_ns)
    elif mode == MODE_INTERVAL:
        cand = min(cand, max(t_first, last + usecs_ns))
    elif mode == MODE_PACKET and usecs_ns > 0:
        n = 64
        while True:
            c = comps(n)
            found = -1
            limit = cand
            for j in range(len(c)):
                if c[j] >= limit:
                    break
                nxt = c[j + 1] if j + 1 < len(c) else None
                if nxt is None and len(c) < n:
                    found = c[j] + usecs_ns          # the stream ended: quiet after c[j]
                    break
                if nxt is not None and nxt - c[j] >= usecs_ns:
                    found = c[j] + usecs_ns
                    break
            else:
                if len(c) == n and c[-1] < cand:
                    n *= 4
                    continue
            if found >= 0:
                cand = min(cand, found)
            break
    if cand >= inf:
        return None
    if itr_ns:
        cand = max(cand, last + itr_ns)
    return max(cand, not_before)


__all__ = ["MODE_ABSOLUTE", "MODE_INTERVAL", "MODE_NONE", "MODE_PACKET", "Coalesce",
           "fire_time"]
