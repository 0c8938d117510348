"""Software on the one clock: sections of code that run on a CPU and take simulated time.

A *section* is a piece of software (boot code, a driver's probe, an interrupt handler, a
user's script) running on one CPU. It has a clock: the instant the software has reached,
its start plus the cost spent so far (and any time it was preempted). Every access it makes
(config, MMIO, port I/O, MSR, memory) first *syncs*: the engine is brought to the section's
clock, so the access happens at its own instant and the block it reaches acts at
``engine.now`` like any other event.

Syncing has two paths:

* **fast** — nothing is scheduled at or before the section's clock (and the clock is within
  the run's ``until``): the engine's ``now`` simply moves forward. Nothing could have
  happened in between, so this is exactly what waiting would give, without an event.
* **wait** — something is due first: the section schedules its wake-up at its clock and
  suspends; the engine runs what is due (other CPUs, devices, an interrupt that preempts
  this section) and resumes the section at its instant.

Writes need not wait: like a posted store, a write whose instant is ahead of the engine is
scheduled to take effect at that instant and the software goes on (it cannot observe the
write's effect without a later read, which syncs). When the body returns, its last
computation (the *tail*) is an event at the section's clock, not a wait. Preemption holds a
section's wake-up, tail and posted writes and shifts them by the time it was preempted.

A section's body is ordinary Python — OS and driver code need no ``yield``. Waiting takes
one of two equivalent forms:

* **inline** — the section runs on the engine's own stack and, to wait, runs the due events
  itself until its instant comes (as the engine loop would have). At most one section is
  inline at a time, and only in a run without ``until``/event limit, or from the top level
  (a user's script, ``Machine.boot``), so no horizon can cut a wait short;
* **greenlet** — otherwise (another section is inline, or the run is bounded) the section
  runs in a pooled greenlet (the coroutine core of gevent) and suspends: its wake-up is an
  entry on the heap.

Both order the wake-up exactly like a scheduled entry (the inline waiter takes a tie-break
number as :meth:`Engine.at` would), so a run gives the same events in the same order
whichever form each section took; a test checks it. Sections nest: a section started on a
CPU whose section is running (an IPI sent from a handler, a handler that calls into the
kernel) runs inline in it and keeps every cost.

docs/timing.md ("Software time") describes the choice and its cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final

from greenlet import GreenletExit, getcurrent, greenlet

from irqsim.sim.engine import FOREVER, Fire

if TYPE_CHECKING:
    from irqsim.sim.engine import Engine

Body = Callable[[Any], Any]

TASK: Final = "task"
HARDIRQ: Final = "hardirq"
SOFTIRQ: Final = "softirq"


# A posted write: (instant, engine handle, fn, arg); it takes effect at its instant unless
# the section is preempted first (then it is shifted by the preemption).
Posted = tuple[int, int, Callable[[Any], None], Any]


class Section:
    """One piece of software running on one CPU, with its own clock."""

    # True when ``on_done`` marks the section finished itself (a subclass's fast path:
    # its tail event then calls ``on_done`` directly). Such a section is launched as the
    # last action of an event callback: its tail may then be folded (Engine.ahead).
    SELF_FINISHING = False

    __slots__ = ("abandoned", "arg", "blocked", "body", "busy", "clock", "cpu", "done_fire",
                 "finished", "glet", "handle", "kind", "next", "on_done", "p_arg", "p_fn",
                 "p_handle", "p_t", "posted", "preempted", "ready", "remaining", "resumer",
                 "start", "stepping", "vseq")

    def __init__(self, cpu: Any, body: Body, kind: str, start: int,
                 on_done: Callable[[Section], None] | None, arg: Any = None) -> None:
        self.cpu = cpu
        self.body = body
        self.arg = arg
        self.kind = kind
        self.start = start
        self.clock = start              # the instant the software has reached
        self.busy = 0                   # cost spent (excludes time preempted)
        self.on_done: Callable[[Any], None] | None = on_done
        # ``on_done`` as a Fire, where a SELF_FINISHING subclass has one (scheduled with no
        # type test by the compiled engine); None otherwise.
        self.done_fire: Fire | None = None
        self.finished = False
        self.glet: greenlet | None = None
        self.resumer: greenlet | None = None
        self.handle: int | None = None  # pending wake-up or tail event
        self.next: Callable[[Any], None] | None = None  # what ``handle`` runs
        self.remaining = -1             # time left to that event when preempted
        self.preempted = False
        self.blocked = False            # waits for ``wake`` (a spin on a flag)
        self.ready = False              # woken while preempted
        # Its posted writes not yet known to have happened: the first in p_* (p_fn None:
        # none; a handler's one EOI write makes no record object), the others in ``posted``.
        self.p_fn: Callable[[Any], None] | None = None
        self.p_arg: Any = None
        self.p_t = 0
        self.p_handle = 0
        self.posted: list[Posted] | None = None
        self.stepping = False           # inline: runs the engine's due events to wait
        self.vseq = -1                  # inline: the tie-break of its virtual wake-up
        self.abandoned = False          # INIT took its CPU: it never continues

    def __repr__(self) -> str:
        return (f"Section({self.kind} on {getattr(self.cpu, 'name', self.cpu)}, "
                f"start={self.start}, clock={self.clock}, finished={self.finished})")


class NativeSection(Section):
    """A section whose body and end are methods of its own compiled class (cpu.py's handler
    ``Frame``): ``run_body()`` is ``body(arg)`` and ``run_done()`` is ``on_done(self)``. In
    the compiled build :meth:`Software.launch` calls them natively (a bound method stored in
    ``body`` is called by name, with its arguments parsed); interpreted, it calls ``body``
    (one Python call less)."""

    __slots__ = ()

    def run_body(self) -> None:
        """``self.body(self.arg)``."""
        raise NotImplementedError

    def run_done(self) -> None:
        """``self.on_done(self)``."""
        raise NotImplementedError


# This module is mypyc-compiled (bench/build_compiled.py): NativeSection's methods are native
# calls here.
COMPILED: Final = not __file__.endswith(".py")


def _keep_posted(sec: Section, t: int, handle: int, fn: Callable[[Any], None],
                 arg: Any) -> None:
    """Record a posted write of ``sec`` (held if it is preempted before the write's instant)."""
    if sec.p_fn is None and sec.posted is None:
        sec.p_t = t
        sec.p_handle = handle
        sec.p_fn = fn
        sec.p_arg = arg
    elif sec.posted is None:
        sec.posted = [(t, handle, fn, arg)]
    else:
        sec.posted.append((t, handle, fn, arg))


def _all_posted(sec: Section) -> list[Posted] | None:
    """Every posted write recorded for ``sec``, in posting order, all in ``posted`` now."""
    fn = sec.p_fn
    if fn is not None:
        first: Posted = (sec.p_t, sec.p_handle, fn, sec.p_arg)
        sec.posted = [first, *sec.posted] if sec.posted else [first]
        sec.p_fn = sec.p_arg = None
    return sec.posted


def _forget_posted(sec: Section) -> None:
    """``sec``'s posted writes have all happened (or never will)."""
    sec.posted = None
    sec.p_fn = sec.p_arg = None


class SectionAbandoned(Exception):
    """Raised inside an inline section whose CPU was reset (INIT): it never continues."""


class Software:
    """Runs sections on the engine's clock; owns "the section running now"."""

    __slots__ = ("_pool", "current", "engine", "inline", "inline_ok")

    INLINE: ClassVar[bool] = True   # the default of ``inline_ok`` (tests turn it off)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.current: Section | None = None
        self.inline: Section | None = None   # the section running on the engine's stack
        self.inline_ok = Software.INLINE     # False: every section takes a greenlet
        self._pool: list[greenlet] = []

    # -- starting and finishing ---------------------------------------------------------
    def start(self, cpu: Any, body: Body, kind: str = TASK,
              on_done: Callable[[Section], None] | None = None, arg: Any = None) -> Section:
        """Start ``body(arg)`` as a section on ``cpu`` now; returns when it ends or first
        waits. ``on_done(section)`` runs at the section's last instant (its clock when the
        body has returned)."""
        return self.launch(Section(cpu, body, kind, self.engine.now, on_done, arg))

    def launch(self, sec: Section) -> Section:
        """Start a section made beforehand at its clock (its owner can register it first
        and give it a start ahead of now)."""
        if self.inline is None and self.current is None and self.inline_ok \
                and not self.engine.bounded:
            self.inline = self.current = sec
            nsec = sec if COMPILED and isinstance(sec, NativeSection) else None
            try:
                if nsec is not None:
                    nsec.run_body()
                else:
                    sec.body(sec.arg)
            except SectionAbandoned:
                return sec
            finally:
                self.inline = self.current = None
            engine = self.engine
            if sec.clock > engine.now:                  # _ended(), inlined
                fin = sec.on_done if sec.SELF_FINISHING and sec.on_done else self._finish
                if sec.SELF_FINISHING and engine.ahead(sec.clock):
                    # Folded tail: a self-finishing section (a handler Frame) is launched at
                    # the end of its event, and its tail would be the next entry anyway.
                    engine.now = sec.clock
                    engine.folded += 1
                    if nsec is not None:
                        nsec.run_done()
                    else:
                        fin(sec)
                    return sec
                sec.next = fin
                df = sec.done_fire
                sec.handle = (engine.at_fire(sec.clock, df, sec) if df is not None
                              else engine.at(sec.clock, fin, sec))
            else:
                self._ended(sec)
            return sec
        pool = self._pool
        glet = sec.glet = pool.pop() if pool else greenlet(self._worker)
        prev = self.current                 # _switch_in, inlined
        sec.resumer = getcurrent()
        self.current = sec
        err = glet.switch(sec)
        self.current = prev
        if err is not None:
            raise err
        return sec

    def _switch_in(self, sec: Section) -> None:
        prev = self.current
        sec.resumer = getcurrent()
        self.current = sec
        assert sec.glet is not None
        err = sec.glet.switch(sec)
        self.current = prev
        if err is not None:
            raise err

    def _worker(self, sec: Section) -> None:
        while True:
            err: BaseException | None = None
            try:
                sec.body(sec.arg)
            except GreenletExit:
                raise
            except BaseException as e:  # surfaces where the section was (re)started
                err = e
            resumer = sec.resumer
            sec.glet = sec.resumer = None
            self._pool.append(getcurrent())
            if err is None:
                try:
                    self._ended(sec)
                except BaseException as e:
                    err = e
            assert resumer is not None
            sec = resumer.switch(err)

    def _ended(self, sec: Section) -> None:
        """The body has returned: the rest of its clock is its tail, an event."""
        engine = self.engine
        if sec.clock > engine.now:
            fin = sec.on_done if sec.SELF_FINISHING and sec.on_done else self._finish
            sec.next = fin
            df = sec.done_fire
            sec.handle = (engine.at_fire(sec.clock, df, sec) if df is not None
                          else engine.at(sec.clock, fin, sec))
        else:
            sec.clock = engine.now
            sec.finished = True
            _forget_posted(sec)
            if sec.on_done is not None:
                sec.on_done(sec)

    def _finish(self, sec: Section) -> None:
        sec.handle = sec.next = None
        engine = self.engine
        if sec.clock < engine.now:
            sec.clock = engine.now
        sec.finished = True
        _forget_posted(sec)
        if sec.on_done is not None:
            sec.on_done(sec)

    # -- time ---------------------------------------------------------------------------
    def spend(self, sec: Section, ns: int) -> None:
        """Charge ``ns`` of computation to ``sec`` (its clock moves on)."""
        sec.clock += ns
        sec.busy += ns

    def charge(self, ns: int) -> None:
        """Charge ``ns`` of computation to the section running now (none: nothing)."""
        cur = self.current
        if cur is not None:
            cur.clock += ns
            cur.busy += ns

    def sync(self, sec: Section) -> None:
        """Bring the engine to ``sec``'s clock: move ``now`` if nothing is due first, else
        suspend until the engine reaches it (other events, preemption, run first)."""
        engine = self.engine
        t = sec.clock
        if t <= engine.now:
            sec.clock = engine.now
            return
        if engine.free_until(t):
            engine.now = t
            return
        self._wait(sec, t)

    def _wait(self, sec: Section, t: int) -> None:
        """Something is due before ``t``: wait for the engine to reach it."""
        if sec is self.inline:
            sec.vseq = self.engine.reserve_seq()
            self._step(sec)
        else:
            self._suspend(sec, t)

    def _step(self, sec: Section) -> None:
        """Inline waiting: run the due events until ``sec``'s virtual wake-up is next."""
        engine = self.engine
        sec.stepping = True
        self.current = None
        try:
            while True:
                if sec.abandoned:
                    raise SectionAbandoned(repr(sec))
                if sec.preempted or sec.blocked:
                    engine.wait_t = FOREVER
                else:
                    # Other software must see this wake-up as if it were on the heap.
                    engine.wait_t = sec.clock
                    if engine.free_before(sec.clock, sec.vseq):
                        break
                if not engine.step():
                    raise RuntimeError(f"{sec!r} waits for something that never happens")
        finally:
            engine.wait_t = FOREVER
            sec.stepping = False
            self.current = sec
        if sec.clock > engine.now:
            engine.now = sec.clock
        else:
            sec.clock = engine.now

    def _suspend(self, sec: Section, t: int) -> None:
        if self.current is not sec or sec.glet is None or getcurrent() is not sec.glet:
            raise RuntimeError(f"{sec!r} can only wait from its own code")
        sec.next = self._wake
        sec.handle = self.engine.at(t, self._wake, sec)
        resumer = sec.resumer
        assert resumer is not None
        resumer.switch(None)            # back to whoever ran us; _wake switches us in again

    def _wake(self, sec: Section) -> None:
        sec.handle = sec.next = None
        sec.clock = self.engine.now
        self._switch_in(sec)

    def post(self, sec: Section, fn: Callable[[Any], None], arg: Any) -> None:
        """Have ``fn(arg)`` take effect at ``sec``'s clock (a posted write); the software
        goes on without waiting for the engine to get there."""
        t = sec.clock
        _keep_posted(sec, t, self.engine.at(t, fn, arg), fn, arg)

    def post_fire(self, sec: Section, fn: Fire, arg: Any) -> None:
        """:meth:`post` of a :class:`Fire` (the compiled engine tests no type)."""
        t = sec.clock
        _keep_posted(sec, t, self.engine.at_fire(t, fn, arg), fn, arg)

    # -- blocking on a condition (a spin the software does) -----------------------------
    def block(self, sec: Section) -> None:
        """Suspend ``sec`` until :meth:`wake` (it spins meanwhile: its CPU stays busy)."""
        if self.current is not sec or (sec is not self.inline and getcurrent() is not sec.glet):
            raise RuntimeError(f"{sec!r} can only block from its own code")
        self.sync(sec)
        t0 = self.engine.now
        sec.blocked = True
        if sec is self.inline:
            self._step(sec)
        else:
            resumer = sec.resumer
            assert resumer is not None
            resumer.switch(None)
        sec.busy += self.engine.now - t0

    def wake(self, sec: Section) -> None:
        """End ``sec``'s :meth:`block` now (later if it is preempted)."""
        if not sec.blocked:
            return
        sec.blocked = False
        if sec.preempted:
            sec.ready = True
        elif sec.stepping:
            sec.clock = self.engine.wait_t = self.engine.now
            sec.vseq = self.engine.reserve_seq()
        else:
            sec.next = self._wake
            sec.handle = self.engine.at(self.engine.now, self._wake, sec)

    # -- preemption (an interrupt takes the CPU) ----------------------------------------
    def preempt(self, sec: Section) -> None:
        """``sec`` stops advancing: its wake-up or tail and its posted writes are held
        until :meth:`unpreempt`."""
        sec.preempted = True
        engine = self.engine
        now = engine.now
        if sec.handle is not None:
            engine.cancel(sec.handle)
            sec.handle = None
            sec.remaining = max(0, sec.clock - now)
        elif sec.stepping and not sec.blocked:
            sec.remaining = max(0, sec.clock - now)      # its virtual wake-up is held
            engine.wait_t = FOREVER
        posted = _all_posted(sec)
        if posted:
            # Writes due after now have not happened (entries run in time order); one due
            # at now happens at the preemption's instant either way, so it is left alone.
            keep: list[Posted] = []
            for t, handle, fn, arg in posted:
                if t > now:
                    engine.cancel(handle)
                    keep.append((t - now, -1, fn, arg))     # held: its offset from now
            sec.posted = keep or None

    def unpreempt(self, sec: Section) -> None:
        """The CPU returns to ``sec``: what it had pending is due after the time it had
        left."""
        sec.preempted = False
        engine = self.engine
        now = engine.now
        posted = _all_posted(sec)
        if posted:
            sec.posted = [(now + dt, engine.at(now + dt, fn, arg), fn, arg)
                          for dt, _, fn, arg in posted]
        if sec.remaining >= 0:
            sec.clock = now + sec.remaining
            sec.remaining = -1
            if sec.stepping:
                sec.vseq = engine.reserve_seq()
                engine.wait_t = sec.clock
            else:
                assert sec.next is not None
                sec.handle = engine.at(sec.clock, sec.next, sec)
        elif sec.ready:
            sec.ready = False
            if sec.stepping:
                sec.clock = engine.wait_t = now
                sec.vseq = engine.reserve_seq()
            else:
                sec.next = self._wake
                sec.handle = engine.at(now, self._wake, sec)

    def abandon(self, sec: Section) -> None:
        """``sec``'s CPU was reset (INIT): hold everything it had pending, for good."""
        self.preempt(sec)
        sec.abandoned = True

    # -- top level ----------------------------------------------------------------------
    def finish_from_top(self, sec: Section) -> None:
        """Called from outside any event: run the engine until ``sec`` has ended (or its
        CPU was reset by INIT: then it never ends)."""
        engine = self.engine
        while not sec.finished and not sec.abandoned:
            if not engine.run(max_events=1) and engine.peek() is None:
                raise RuntimeError(f"{sec!r} waits for something that never happens")
