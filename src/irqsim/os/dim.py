"""Linux DIM (lib/dim/net_dim.c, dim.c, include/linux/dim.h): the adaptive moderation the
driver calls from NAPI poll, reimplemented from shared/reference/nic-moderation.md section 4.

It measures throughput (bytes and packets per ms) and interrupt rate over at least
``DIM_NEVENTS`` events, hill-climbs the profile index (right = more moderation) while
throughput gets BETTER, turns when it does not, and parks on top or tired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

DIM_NEVENTS = 64
NPROF = 5
DEFAULT_PROFILE = 1
TIRED_MAX = 10

# (usecs, frames) per profile index; index 0 = least moderation (reference section 4).
RX_EQE = ((1, 256), (8, 256), (64, 256), (128, 256), (256, 256))
RX_CQE = ((2, 256), (8, 128), (16, 64), (32, 64), (64, 64))
TX_EQE = ((1, 128), (8, 128), (32, 128), (64, 128), (128, 128))
TX_CQE = ((5, 128), (8, 64), (16, 32), (32, 32), (64, 32))
PROFILES = {("rx", "eqe"): RX_EQE, ("rx", "cqe"): RX_CQE, ("tx", "eqe"): TX_EQE,
            ("tx", "cqe"): TX_CQE}


class State(Enum):
    START_MEASURE = 0
    MEASURING = 1
    APPLY_NEW_PROFILE = 2


class Tune(Enum):
    PARK_ON_TOP = 0
    PARKING_TIRED = 1
    GOING_RIGHT = 2
    GOING_LEFT = 3


class Cmp(Enum):
    WORSE = -1
    SAME = 0
    BETTER = 1


STEPPED, TOO_TIRED, ON_EDGE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Sample:
    """What the driver hands net_dim: time (ns) and wrapping counters."""

    time_ns: int
    pkt_ctr: int
    byte_ctr: int
    event_ctr: int


@dataclass(frozen=True, slots=True)
class Stats:
    ppms: int = 0
    bpms: int = 0
    epms: int = 0


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def significant(cur: int, ref: int) -> bool:
    """IS_SIGNIFICANT_DIFF: 100*|cur-ref|/ref > 10, integer division; ref 0 is not."""
    return ref != 0 and 100 * abs(cur - ref) // ref > 10


def compare(cur: Stats, prev: Stats) -> Cmp:
    """dim_stats_compare: bytes, then packets (higher is better), then events (lower)."""
    if prev.bpms == 0:
        return Cmp.BETTER if cur.bpms else Cmp.SAME
    if significant(cur.bpms, prev.bpms):
        return Cmp.BETTER if cur.bpms > prev.bpms else Cmp.WORSE
    if prev.ppms == 0:
        return Cmp.BETTER if cur.ppms else Cmp.SAME
    if significant(cur.ppms, prev.ppms):
        return Cmp.BETTER if cur.ppms > prev.ppms else Cmp.WORSE
    if prev.epms == 0:
        return Cmp.SAME
    if significant(cur.epms, prev.epms):
        return Cmp.BETTER if cur.epms < prev.epms else Cmp.WORSE
    return Cmp.SAME


@dataclass
class Dim:
    """One NAPI instance's DIM state (zeroed: START_MEASURE, PARK_ON_TOP, prev stats 0)."""

    profile_ix: int = DEFAULT_PROFILE
    state: State = State.START_MEASURE
    tune_state: Tune = Tune.PARK_ON_TOP
    steps_right: int = 0
    steps_left: int = 0
    tired: int = 0
    prev: Stats = field(default_factory=Stats)
    start: Sample | None = None
    decisions: int = 0
    changes: int = 0

    # -- the decision (dim.c) ---------------------------------------------------------
    def _step(self) -> int:
        if self.tired == TIRED_MAX:
            return TOO_TIRED
        if self.tune_state == Tune.GOING_RIGHT:
            if self.profile_ix == NPROF - 1:
                return ON_EDGE
            self.profile_ix += 1
            self.steps_right += 1
        elif self.tune_state == Tune.GOING_LEFT:
            if self.profile_ix == 0:
                return ON_EDGE
            self.profile_ix -= 1
            self.steps_left += 1
        self.tired += 1
        return STEPPED

    def _park_on_top(self) -> None:
        self.steps_right = self.steps_left = self.tired = 0
        self.tune_state = Tune.PARK_ON_TOP

    def _park_tired(self) -> None:
        self.steps_right = self.steps_left = 0
        self.tune_state = Tune.PARKING_TIRED

    def _exit_parking(self) -> None:
        self.tune_state = Tune.GOING_LEFT if self.profile_ix else Tune.GOING_RIGHT
        self._step()

    def _on_top(self) -> bool:
        if self.tune_state in (Tune.PARK_ON_TOP, Tune.PARKING_TIRED):
            return True
        if self.tune_state == Tune.GOING_RIGHT:
            return self.steps_left > 1 and self.steps_right == 1
        return self.steps_right > 1 and self.steps_left == 1

    def _turn(self) -> None:
        if self.tune_state == Tune.GOING_RIGHT:
            self.tune_state = Tune.GOING_LEFT
            self.steps_left = 0
        elif self.tune_state == Tune.GOING_LEFT:
            self.tune_state = Tune.GOING_RIGHT
            self.steps_right = 0

    def decide(self, cur: Stats) -> bool:
        """net_dim_decision: True when the profile index changed."""
        ix0, st0 = self.profile_ix, self.tune_state
        self.decisions += 1
        if st0 == Tune.PARK_ON_TOP:
            if compare(cur, self.prev) != Cmp.SAME:
                self._exit_parking()
        elif st0 == Tune.PARKING_TIRED:
            self.tired -= 1
            if not self.tired:
                self._exit_parking()
        else:
            if compare(cur, self.prev) != Cmp.BETTER:
                self._turn()
            if self._on_top():
                self._park_on_top()
            else:
                r = self._step()
                if r == ON_EDGE:
                    self._park_on_top()
                elif r == TOO_TIRED:
                    self._park_tired()
        if not (st0 == Tune.PARK_ON_TOP and self.tune_state == Tune.PARK_ON_TOP):
            self.prev = cur
        return self.profile_ix != ix0

    # -- sampling (net_dim.c) -----------------------------------------------------------
    def sample(self, s: Sample) -> bool:
        """net_dim(sample): True when a new profile must be applied (the driver's work
        item then programs it and calls :meth:`applied`)."""
        if self.state == State.START_MEASURE:
            self.start = s
            self.state = State.MEASURING
            return False
        if self.state != State.MEASURING:
            return False
        st = self.start
        assert st is not None
        nevents = (s.event_ctr - st.event_ctr) % (1 << 16)
        if nevents < DIM_NEVENTS:
            return False
        dt_us = (s.time_ns - st.time_ns) // 1000
        if dt_us <= 0:
            return False
        npkts = (s.pkt_ctr - st.pkt_ctr) % (1 << 32)
        nbytes = (s.byte_ctr - st.byte_ctr) % (1 << 32)
        cur = Stats(ppms=_ceil_div(npkts * 1000, dt_us), bpms=_ceil_div(nbytes * 1000, dt_us),
                    epms=_ceil_div(DIM_NEVENTS * 1000, dt_us))
        if self.decide(cur):
            self.state = State.APPLY_NEW_PROFILE
            self.changes += 1
            return True
        self.start = s
        return False

    def applied(self) -> None:
        """The work item programmed the profile: measure again."""
        self.state = State.START_MEASURE

    def profile(self, direction: str = "rx", mode: str = "eqe") -> tuple[int, int]:
        """(usecs, frames) of the current profile."""
        return PROFILES[(direction, mode)][self.profile_ix]
