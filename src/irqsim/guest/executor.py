"""One Unicorn instance per CPU: runs the guest's instructions on the model's clock.

**Time.** Each CPU has a guest clock (picoseconds): every instruction costs
``TimingModel.guest_insn_ps``, and every access irqsim handles adds its modelled cost as a
stall. Before an access the engine is brought to the guest's instant, so the access happens
then; when the guest clock passes the next engine event, the engine runs up to it (a timer
fires, an interrupt arrives) and the INTR line is sampled at the next instruction boundary.
HLT jumps the clock to the next event. A loop that polls the same register or RDTSC (or
executes PAUSE) is *warped* to the next event (or forward by a doubling step when nothing is
scheduled): a fidelity choice, documented in docs/guest.md, that turns seconds of spinning
into a few steps.

**Boundaries** (docs/guest.md): by default native.c counts instructions in C and calls
:meth:`Executor._on_boundary` only at a deadline (the next engine event, the sync bound, a
pending delivery); without a C compiler a Python block hook charges whole blocks; ``exact``
hooks every instruction in Python.

**Special instructions** are found by decoding each new block with capstone and get a hook
each (Unicorn has no MSR or RDTSC hooks in its Python binding): RDMSR/WRMSR of the MSRs irqsim
owns (TSC, IA32_APIC_BASE, TSC_DEADLINE, x2APIC 800h-8FFh; the rest are Unicorn's), RDTSC,
MOV to/from CR8 (TPR[7:4]), CPUID (fixed up from :mod:`irqsim.guest.cpuid`), HLT, STI (its
one-instruction shadow), PAUSE and IRETQ (NMI unblocking).

**Interrupts** are delivered by hand at instruction boundaries as the SDM (vol. 3A 6.14)
describes a 64-bit IDT entry: the gate at IDTR.base + 16 x vector, the stack aligned to 16
bytes (or the gate's IST stack), SS, RSP, RFLAGS, CS, RIP (and an error code) pushed, IF
cleared for an interrupt gate; IRETQ runs natively.
"""

from __future__ import annotations

import contextlib
import ctypes
import struct
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from capstone import CS_ARCH_X86, CS_MODE_64, Cs
from unicorn import (
    UC_ARCH_X86,
    UC_ERR_INSN_INVALID,
    UC_HOOK_BLOCK,
    UC_HOOK_CODE,
    UC_HOOK_INSN,
    UC_HOOK_INTR,
    UC_HOOK_MEM_INVALID,
    UC_MODE_64,
    UC_PROT_ALL,
    Uc,
    UcError,
)
from unicorn.unicorn_py3.unicorn import MMIO_READ_CFUNC as _MMIO_READ
from unicorn.unicorn_py3.unicorn import MMIO_WRITE_CFUNC as _MMIO_WRITE
from unicorn.unicorn_py3.unicorn import uclib as _uclib
from unicorn.x86_const import (
    UC_X86_INS_IN,
    UC_X86_INS_OUT,
    UC_X86_REG_CR0,
    UC_X86_REG_CR2,
    UC_X86_REG_CR3,
    UC_X86_REG_CS,
    UC_X86_REG_EAX,
    UC_X86_REG_EBX,
    UC_X86_REG_ECX,
    UC_X86_REG_EDX,
    UC_X86_REG_IDTR,
    UC_X86_REG_RAX,
    UC_X86_REG_RFLAGS,
    UC_X86_REG_RIP,
    UC_X86_REG_RSP,
    UC_X86_REG_SS,
    UC_X86_REG_TR,
)

from irqsim.cpu.cpu import RUNNING
from irqsim.guest import GuestError, cpuid, native
from irqsim.sim.accounting import Reason
from irqsim.spec.cpu import MSR_APIC_BASE, MSR_TSC, MSR_TSC_DEADLINE

_uc_reg_read = _uclib.uc_reg_read
_uc_reg_write = _uclib.uc_reg_write
_uc_vmem_translate = _uclib.uc_vmem_translate
_uc_reg_read_batch = _uclib.uc_reg_read_batch
_uc_reg_write_batch = _uclib.uc_reg_write_batch
_GATE = struct.Struct("<HHBBHI4x")      # a 64-bit IDT gate (SDM vol. 3A 6.14.1)
_FRAME5 = struct.Struct("<5Q")          # RIP, CS, RFLAGS, RSP, SS
_FRAME6 = struct.Struct("<6Q")          # the error code, then the same
_uc_vmem_translate.argtypes = (ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int,
                               ctypes.POINTER(ctypes.c_uint64))
_uc_vmem_translate.restype = ctypes.c_int

if TYPE_CHECKING:
    from irqsim.guest.cpu import GuestCpu
    from irqsim.guest.runner import GuestRun

MSR_X2APIC_EOI, XAPIC_EOI = 0x80B, 0xB0
MMIO_BASE = 0xB0000000          # ECAM, 32-bit BARs, I/O APIC, LAPIC: up to 4 GiB
VEC_NMI, VEC_UD, VEC_GP = 2, 6, 13
ERROR_CODE_VECTORS = frozenset((8, 10, 11, 12, 13, 14, 17, 21))
IF = 1 << 9
# RFLAGS bits an interrupt or trap gate clears (SDM 6.14.2): TF, NT, RF, VM (and IF for an
# interrupt gate).
GATE_CLEARS = (1 << 8) | (1 << 14) | (1 << 16) | (1 << 17)
REGS64 = (UC_X86_REG_RAX, UC_X86_REG_ECX, UC_X86_REG_EDX, UC_X86_REG_EBX)

# Instruction kinds found by the code hook.
PLAIN, RDMSR, WRMSR, RDTSC, HLT, STI, PAUSE, IRETQ, CPUID, CR8W, CR8R, MOVSS = range(12)
# The special instructions by their opcode bytes (SDM vol. 2): RDMSR, WRMSR, RDTSC, CPUID,
# HLT, STI, PAUSE, IRETQ (REX.W CF). MOV CR8 needs its ModRM decoded (_decode_bytes).
OPCODES = ((b"\x0f\x32", RDMSR), (b"\x0f\x30", WRMSR), (b"\x0f\x31", RDTSC),
           (b"\x0f\xa2", CPUID), (b"\xf4", HLT), (b"\xfb", STI), (b"\xf3\x90", PAUSE),
           (b"\x48\xcf", IRETQ))
POLL_REPEATS = 8                # same register / RDTSC read this many times -> warp
POLL_GAP = 200                  # ... with at most this many instructions between reads
WARP_MIN_NS, WARP_MAX_NS = 1_000, 1_000_000


class _Mmr(ctypes.Structure):
    """Unicorn's ``uc_x86_mmr`` (IDTR, GDTR, TR, LDTR), for the raw register read."""

    _fields_ = [("selector", ctypes.c_uint16), ("base", ctypes.c_uint64),
                ("limit", ctypes.c_uint32), ("flags", ctypes.c_uint32)]


def _reg(n: int) -> int:
    """Unicorn register id of 64-bit GPR ``n`` (0 = RAX ... 15 = R15)."""
    from unicorn import x86_const as x
    names = ("RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
             "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15")
    return int(getattr(x, f"UC_X86_REG_{names[n]}"))


class Executor:
    """Runs one CPU's guest code on irqsim's clock."""

    def __init__(self, run: GuestRun, cpu: GuestCpu) -> None:
        self.run = run
        self.cpu = cpu
        self.engine = cpu.ctx.engine
        self.ctx = cpu.ctx
        cpu.guest = self
        uc = self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        ram = run.ram
        uc.mem_map_ptr(0, ram.size, UC_PROT_ALL, ram.ptr)
        # The MMIO callbacks go straight to uc_mmio_map: the binding's mmio_map wraps each
        # in two more Python frames (an exception guard and an adapter) per access.
        self._mmio_cbs = (_MMIO_READ(self._mmio_read_cb), _MMIO_WRITE(self._mmio_write_cb))
        self.exact = run.exact
        self.md = Cs(CS_ARCH_X86, CS_MODE_64)
        self.lengths: dict[int, int] = {}
        self.blocks: dict[int, int] = {}              # block address -> instructions
        self.nat: native.State | None = None
        self._cb_error: BaseException | None = None
        self.insn_ps = run.insn_ps
        lib = None if self.exact or not run.native else native.load()
        if self.exact:
            uc.hook_add(UC_HOOK_CODE, self._code)
        elif lib is not None:
            self._install_native(lib)
        else:
            uc.hook_add(UC_HOOK_BLOCK, self._block)
        if self.nat is not None:
            # native.c's MMIO callbacks answer the xAPIC ICR mirror, Python the rest
            err = self._lib.irqsim_mmio_map(uc._uch, ctypes.byref(self.nat),
                                            native.address(_uclib.uc_mmio_map), MMIO_BASE,
                                            (1 << 32) - MMIO_BASE)
        else:
            err = _uclib.uc_mmio_map(uc._uch, MMIO_BASE, (1 << 32) - MMIO_BASE,
                                     self._mmio_cbs[0], None, self._mmio_cbs[1], None)
        if err:
            raise GuestError(f"Unicorn refused the MMIO range (uc_err {err})")
        uc.hook_add(UC_HOOK_INSN, self._in, None, 1, 0, UC_X86_INS_IN)
        uc.hook_add(UC_HOOK_INSN, self._out, None, 1, 0, UC_X86_INS_OUT)
        uc.hook_add(UC_HOOK_INTR, self._exception)
        uc.hook_add(UC_HOOK_MEM_INVALID, self._invalid)
        self.cpuid_model = run.machine.cpuid(cpu.index)
        # Raw register access: the binding's reg_read/reg_write dispatch costs several us a
        # call (reference/unicorn-frontend.md 2); these go straight to the C core.
        self._uch = uc._uch
        self._rbuf = ctypes.c_uint64()
        self._rref = ctypes.byref(self._rbuf)
        self._pbuf = ctypes.c_uint64()
        self._pref = ctypes.byref(self._pbuf)
        self._fregs = (ctypes.c_int * 4)(UC_X86_REG_RSP, UC_X86_REG_RFLAGS, UC_X86_REG_CS,
                                         UC_X86_REG_SS)
        self._fvals = (ctypes.c_uint64 * 4)()
        self._fptrs = (ctypes.c_void_p * 4)(*(ctypes.addressof(self._fvals) + 8 * i
                                              for i in range(4)))
        self._wvals = (ctypes.c_uint64 * 3)()
        self._wregs = (ctypes.c_int * 3)(UC_X86_REG_RSP, UC_X86_REG_RFLAGS, UC_X86_REG_CS)
        self._wptrs = (ctypes.c_void_p * 3)(*(ctypes.addressof(self._wvals) + 8 * i
                                              for i in range(3)))
        self._mvals = (ctypes.c_uint64 * 2)()
        self._mregs = (ctypes.c_int * 2)(UC_X86_REG_RAX, UC_X86_REG_EDX)
        self._mptrs = (ctypes.c_void_p * 2)(*(ctypes.addressof(self._mvals) + 8 * i
                                              for i in range(2)))
        self._mmr = _Mmr()
        self._mmr_ref = ctypes.byref(self._mmr)
        self.ps = self.engine.now * 1000        # guest clock, picoseconds
        self.next_ps = 0                        # next engine event, picoseconds
        self.instructions = 0
        self.kinds: dict[int, tuple[int, int]] = {}     # address -> (kind, operand)
        self.line = False                       # the LAPIC's INTR output
        self.attention = False                  # something to do at the next boundary
        self.pending_fault: tuple[int, int] | None = None
        self.nmi_pending = False
        self.nmi_blocked = False
        self.nmi_latched = False
        self.iret_nmi = False                   # an IRETQ in the NMI handler just ran
        self.shadow = False                     # STI blocks interrupts for one instruction
        self.running = False
        self.stopped: str | None = None
        self.if_check = 0
        self.polls: dict[object, list[int]] = {}
        self.warp_ns = WARP_MIN_NS
        self.delivered = 0
        self.vectors: Counter[int] = Counter()  # interrupts taken, by vector
        self.exceptions = 0
        self.warps = 0
        self.halting = False                    # stopped in HLT; resumes at halt_rip
        self.halt_rip = 0
        self.absorbed = 0                       # native: instructions already on the clock
        self.step_target: int | None = None     # native: stop after the shadowed instruction
        self.quantum_end = 1 << 63
        # How far this clock may run ahead (ps): set by the scheduler (runner.bound_ps)
        # whenever the set of runnable CPUs changes; unbounded when alone.
        self.bound = 1 << 62
        self.idle_ps = 0                        # halted or waiting for SIPI (cpu_time)
        self.yielded = False                    # _warp stopped emulation for the others

    def _install_native(self, lib: Any) -> None:
        """Count instructions in C (native.c): a code hook stops emulation at the deadline
        :meth:`_arm` sets, and a block hook calls :meth:`_new_block` once per block."""
        st = self.nat = native.State()
        st.deadline = 0
        st.tsc_offset = st.wait_if = 0
        self._armed_off = self._armed_wait = self._armed_lim = 0    # what _arm last stored
        st.rflags_reg = UC_X86_REG_RFLAGS
        st.reg_read = native.address(_uclib.uc_reg_read)
        self._boundary_cb = native.BOUNDARY(self._on_boundary)
        st.boundary = self._boundary_cb
        self._new_block_cb = native.NEW_BLOCK(self._new_block)
        st.new_block = self._new_block_cb
        self._pause_cb = native.POLL(self._on_pause)
        st.pause = self._pause_cb
        self._special_cb = native.SPECIAL(self._on_special)
        st.special = self._special_cb
        st.reg_write = native.address(_uclib.uc_reg_write)
        st.rax_reg, st.rdx_reg, st.rip_reg = UC_X86_REG_RAX, _reg(2), UC_X86_REG_RIP
        st.rcx_reg = _reg(1)
        st.insn_ps = self.run.insn_ps
        st.tsc_khz = self.cpu.ctx.timing.tsc_khz
        st.pause_gap = POLL_GAP
        st.pause_repeats = POLL_REPEATS
        # The xAPIC ICR mirror (native.c serves ICR/ICR2 loads and ICR2 stores from it)
        st.py_read = ctypes.cast(self._mmio_cbs[0], ctypes.c_void_p).value
        st.py_write = ctypes.cast(self._mmio_cbs[1], ctypes.c_void_p).value
        st.cost_ps = self.cpu.lapic_access_ns * 1000
        self._m_base = self.cpu.apic_base           # native.c's ICR / ICR2 poll keys
        self._m_key: tuple[object, ...] = ()        # what _mirror_setup saw
        self._m_get: tuple[Callable[[Any], int], Callable[[Any], int]] | None = None
        self._m_icr = self._m_hi = -1               # what _mirror last pushed
        self._m_dirty = True                        # the model may have changed: re-push
        self._lib = lib
        self._hook_add = native.address(_uclib.uc_hook_add)
        self._c_hooks: list[ctypes.c_size_t] = []
        self._native_hooks = (ctypes.c_size_t * 2)()
        err = lib.irqsim_install(self.uc._uch, ctypes.byref(st),
                                 native.address(_uclib.uc_hook_add), self._native_hooks)
        if err:
            raise GuestError(f"Unicorn refused the native hooks (uc_err {err})")

    def __del__(self) -> None:
        """Free native.c's block set (the Unicorn instance goes with this executor)."""
        st, lib = getattr(self, "nat", None), getattr(self, "_lib", None)
        if st is not None and lib is not None:
            with contextlib.suppress(Exception):    # interpreter shutdown: nothing to free
                lib.irqsim_free(ctypes.byref(st))

    def _emu_stop(self) -> None:
        """Stop emulation (uc.emu_stop) after the current hook; native.c's code hook then
        counts nothing more (Unicorn may still call it before it stops)."""
        if self.nat is not None:
            self.nat.stop_req = 1
        self.uc.emu_stop()

    def rd(self, reg: int) -> int:
        """A register of up to 64 bits (not IDTR/GDTR/TR: those use ``uc.reg_read``)."""
        self._rbuf.value = 0                    # a 32-bit register fills only the low half
        _uc_reg_read(self._uch, reg, self._rref)
        return self._rbuf.value

    def wr(self, reg: int, value: int) -> None:
        self._rbuf.value = value & 0xFFFFFFFFFFFFFFFF
        _uc_reg_write(self._uch, reg, self._rref)

    # -- clock -------------------------------------------------------------------------
    @property
    def now(self) -> int:
        """The guest's instant, ns."""
        return self.ps // 1000

    def sync(self) -> None:
        """Bring the engine to the guest's instant (events due by then run first), but not
        past the window the other CPUs' clocks allow (runner.bound_ps)."""
        ps = self.ps if self.ps < self.bound else self.bound
        eng = self.engine
        t = ps // 1000
        nxt = eng.peek()
        if t > eng.now:
            if nxt is not None and nxt <= t:
                eng.run(until=t)
                nxt = eng.peek()
                self._m_dirty = True    # the model moved: native.c's mirror is re-pushed
            else:
                eng.now = t             # nothing due by then: engine.run's result, inlined
        self.next_ps = (1 << 62) if nxt is None else nxt * 1000

    def _next(self) -> None:
        nxt = self.engine.peek()
        self.next_ps = (1 << 62) if nxt is None else nxt * 1000

    def charge(self, ns: int) -> None:
        self.ps += ns * 1000

    def _after_access(self, how: str) -> None:
        """After an access: run what is due by the guest's instant now (the access's cost
        included) and, when an interrupt or NMI is now pending, take it at the boundary after
        this instruction (block mode samples INTR at block starts; an access is where the
        guest can make an interrupt pending for itself). Unicorn allows this differently per
        access (checked in tests): a port hook can stop emulation after its instruction; an
        MMIO write callback can redirect RIP (emu_stop there would re-run the store); an
        MMIO read can do neither without losing the loaded value, so it waits for the next
        block."""
        if self.ps >= self.next_ps:
            self.sync()
        else:
            self._next()
        if self.nat is not None:
            self._arm()                 # native.c stops at the next boundary if need be
            return
        if not self.attention or self.exact:
            return
        if how == "port":
            self._emu_stop()
        elif how == "write":
            rip = self.rd(UC_X86_REG_RIP)
            nxt = rip + self._length(rip)
            if self._boundary(nxt) and self.rd(UC_X86_REG_RIP) == rip:
                self.wr(UC_X86_REG_RIP, nxt)

    def _length(self, rip: int) -> int:
        """Length of the instruction at ``rip`` (capstone, cached)."""
        n = self.lengths.get(rip)
        if n is None:
            try:
                code = self.vread(rip, 15)
                n = next(self.md.disasm_lite(code, rip))[1]
            except (GuestError, StopIteration):
                n = 1
            self.lengths[rip] = n
        return n

    # -- running -------------------------------------------------------------------------
    def start(self, rip: int, count: int = 0) -> None:
        """Run from ``rip`` for at most ``count`` instructions (0: until something stops
        it: the guest exits, halts while other CPUs run, or an error)."""
        if self.nat is not None:
            self._start_native(rip, count)
            return
        self.running = True
        self._next()
        uc = self.uc
        while True:
            try:
                uc.emu_start(rip, 0, count=count)
            except UcError as exc:
                resume = self._emulation_error(exc)
                if resume is not None:
                    rip = resume
                    continue
            break
        self.running = False

    def _emulation_error(self, exc: UcError) -> int | None:
        """Unicorn stopped with ``exc``: an invalid opcode is #UD into the guest (SDM 6.15;
        returns the handler's RIP to resume at), anything else stops the CPU (None)."""
        rip = self.rd(UC_X86_REG_RIP)
        if exc.errno == UC_ERR_INSN_INVALID and self.stopped is None:
            self.exceptions += 1
            self._deliver(VEC_UD, rip, None)
            return self.rd(UC_X86_REG_RIP) if self.stopped is None else None
        if self.stopped is None:
            self.stopped = f"emulation error at {rip:#x}: {exc}"
        return None

    # -- native mode (native.c counts; Python runs at accesses, specials and boundaries) ------
    def _start_native(self, rip: int, count: int) -> None:
        st = self.nat
        assert st is not None
        uc = self.uc
        self.running = True
        self.quantum_end = st.count + count if count else 1 << 63
        self._m_dirty = True            # the other CPUs may have changed this LAPIC
        self._next()
        while True:
            self._arm()
            st.stop_req = 0
            try:
                uc.emu_start(rip, 0)
            except UcError as exc:
                self._absorb()
                resume = self._emulation_error(exc)
                if resume is not None:
                    rip = resume
                    continue
            break
        self._absorb()
        self.running = False
        if self._cb_error is not None:
            err, self._cb_error = self._cb_error, None
            raise err

    def _on_boundary(self, address: int) -> int:
        """native.c reached the deadline (or IF rose with INTR up) at the boundary before
        ``address``: run what is due, deliver what is pending; 1 when RIP moved or emulation
        stops (the instruction at ``address`` is then not executed now)."""
        try:
            self._absorb()
            st = self.nat
            assert st is not None
            if st.count >= self.quantum_end or self.ps >= self.bound:
                self._emu_stop()      # back to the scheduler; resumes at address
                return 1
            if not (self.line or self.nmi_pending or self.iret_nmi or self.step_target
                    is not None or self.pending_fault is not None or st.shadow_count == st.count):
                self.sync()             # only engine events due: the common case
                if not (self.line or self.nmi_pending or self.pending_fault is not None):
                    self._arm()
                    return 0
            rip = self._native_boundary(address)
            if self.stopped is not None:
                return 1
            self._arm()
            # When RIP moved, native.c does not dispatch this address's special instruction
            # (and records (skip_addr, skip_count) so nothing else acts on it).
            return 0 if rip == address else 1
        except BaseException as exc:           # re-raised after emu_start
            self._cb_error = exc
            self._emu_stop()
            return 1

    def _absorb(self) -> None:
        """Put the instructions native.c counted since the last call on the guest clock."""
        st = self.nat
        if st is not None:
            d = st.count - self.absorbed
            if d:
                self.absorbed += d
                self.instructions += d
                self.ps += d * self.insn_ps
            if st.dirty:
                self._undirty(st)

    def _undirty(self, st: native.State) -> None:
        """Take over what native.c's ICR mirror did since Python last ran (as
        :meth:`_mmio_read` / :meth:`_mmio_write` would have): the accesses' costs on the
        clock, the engine brought to the last one's instant (nothing was due by then), the
        poll detector reset by an ICR2 store, the ICR2 value stored into the model, and
        what the last access's cost made due run (native.c stops at the next boundary for
        this, so it runs before the next instruction, as after an access Python serves)."""
        d = st.dirty
        st.dirty = 0
        if d & native.DIRTY_CLOCK:
            self.ps += st.stall_ps
            st.stall_ps = 0
            t = st.sync_ps // 1000
            if t > self.engine.now:
                self.engine.now = t
        if d & native.DIRTY_POLLS:
            self.polls.clear()
            self.warp_ns = WARP_MIN_NS
        if d & native.DIRTY_ICR2:
            self.cpu.lapic.icr_hi = self._m_hi = st.m_icr_hi
        if d & native.DIRTY_SYNC:               # the last access's cost reached lim_ps
            if self.ps >= self.next_ps:
                self.sync()
            else:
                self._next()

    def _arm(self) -> None:
        """Tell native.c where to stop next: at the next boundary when something is to be
        delivered there (or after the STI-shadowed instruction), else when the guest clock
        reaches the next engine event, the synchronisation bound or the quantum's end; and,
        while INTR is up, at the first boundary where RFLAGS.IF is set."""
        st = self.nat
        assert st is not None
        c = self.absorbed                       # = st.count: every caller absorbed first
        lim = self.next_ps if self.next_ps < self.bound else self.bound
        if lim != self._armed_lim:
            self._armed_lim = st.lim_ps = lim
        if self._m_dirty:
            self._mirror(st)
        if self.shadow or self.iret_nmi or self.pending_fault is not None or (
                self.nmi_pending and not self.nmi_blocked):
            dl = c
        else:
            d = lim - self.ps
            dl = c + (d + self.insn_ps - 1) // self.insn_ps if d > 0 else c
            if dl > self.quantum_end:
                dl = self.quantum_end
            if self.step_target is not None and dl > self.step_target:
                dl = self.step_target
        st.deadline = dl
        st.base_ps = self.ps                    # RDTSC in C reads the clock from here
        st.base_count = c
        # The two fields below rarely change: written only when they do (a ctypes field
        # store is a good part of this method's cost, and it runs at every access).
        off = self.cpu.tsc_offset
        if off != self._armed_off:
            self._armed_off = off
            st.tsc_offset = off & 0xFFFFFFFFFFFFFFFF
        # (not in the STI shadow: the step past the shadowed instruction stops anyway)
        w = 1 if self.line and self.step_target is None else 0
        if w != self._armed_wait:
            self._armed_wait = w
            st.wait_if = w

    def _mirror(self, st: native.State) -> None:
        """Push the LAPIC's ICR and ICR2 (as its own register getters read them) into
        native.c's mirror, and whether it may serve them: xAPIC mode with the page in the
        MMIO range (docs/guest.md "Speed"). Called when the model may have changed: after a
        store, an MSR write or a port write, when the engine ran events, at emu_start."""
        self._m_dirty = False
        lapic = self.cpu.lapic
        if (lapic.mmio_on, lapic._regs, self.cpu.apic_base) != self._m_key:
            self._mirror_setup(st)
        get = self._m_get
        if get is not None:
            icr, hi = get[0](lapic), get[1](lapic)
            if icr != self._m_icr:
                self._m_icr = st.m_icr = icr
            if hi != self._m_hi:
                self._m_hi = st.m_icr_hi = hi

    def _mirror_setup(self, st: native.State) -> None:
        """:meth:`_mirror` when the LAPIC's mode, register table or base changed: which
        accesses native.c may serve, with which getters and ICR2 write mask."""
        lapic = self.cpu.lapic
        base = self.cpu.apic_base
        regs = lapic._regs
        self._m_key = (lapic.mmio_on, regs, base)
        if base != self._m_base:
            self._move_poll_keys(st, base)
        on = wmask = 0
        self._m_get = None
        lo_r, hi_r = regs.get(0x300), regs.get(0x310)
        if lapic.mmio_on and MMIO_BASE <= base <= (1 << 32) - 0x1000 and lo_r is not None \
                and hi_r is not None and lo_r.xapic == "RW" and hi_r.xapic == "RW":
            on = 1
            self._m_get = (lo_r.get, hi_r.get)
            if hi_r.put is not None:
                on |= 2
                wmask = hi_r.wmask
        st.m_on, st.m_icr2_wmask = on, wmask
        st.m_icr_off = (base + 0x300 - MMIO_BASE) & 0xFFFFFFFFFFFFFFFF
        self._m_icr = self._m_hi = -1                   # pushed by _mirror

    def _move_poll_keys(self, st: native.State, base: int) -> None:
        """The APIC base moved: native.c's two poll entries (ICR, ICR2 loads) go back to
        the dictionary under their old addresses and the new addresses' come from it."""
        old = self._m_base
        for i in (0, 1):
            if st.poll_have >> i & 1:
                self.polls[("mmio", old + 0x300 + 16 * i)] = [st.poll_run[i], st.poll_last[i]]
        st.poll_have = 0
        for i in (0, 1):
            ent = self.polls.pop(("mmio", base + 0x300 + 16 * i), None)
            if ent is not None:
                st.poll_run[i], st.poll_last[i] = ent
                st.poll_have |= 1 << i
        self._m_base = base

    def _poll_icr(self, i: int) -> bool:
        """:meth:`_poll` of an ICR (i = 0) or ICR2 (1) load, whose entry native.c keeps."""
        st = self.nat
        assert st is not None
        n = self.instructions
        if not st.poll_have >> i & 1:
            st.poll_have |= 1 << i
            st.poll_run[i] = 0
            st.poll_last[i] = n
            return False
        run = st.poll_run[i] + 1 if n - st.poll_last[i] <= POLL_GAP else 0
        st.poll_last[i] = n
        fired = run >= POLL_REPEATS
        st.poll_run[i] = 0 if fired else run
        return fired

    def _native_boundary(self, rip: int) -> int:
        """native.c stopped at the boundary before ``rip``: run what is due and deliver what
        is pending (SDM 6.9 priorities as :meth:`_boundary`); the RIP to resume at."""
        if self.iret_nmi:
            self._nmi_unblock()
        if self.ps >= self.next_ps:
            self.sync()
        st = self.nat
        assert st is not None
        if self.step_target is not None:
            if self.absorbed < self.step_target:
                return rip
            self.step_target = None
        elif st.shadow_count == st.count and st.count:
            # The instruction after STI or MOV SS runs before anything is delivered
            # (SDM vol. 3A 6.8.3; NMIs too, as KVM does).
            self.step_target = self.absorbed + 1
            return rip
        if self._boundary(rip):
            return self.rd(UC_X86_REG_RIP)
        return rip

    def _on_pause(self, address: int) -> int:
        """native.c saw a PAUSE or RDTSC loop spinning: warp it (:meth:`_warp`); 1 when
        emulation stops here (another CPU must catch up first)."""
        try:
            self._absorb()
            self.yielded = False
            self._warp()
            if self.yielded:
                return 1
            self._arm()
            return 0
        except BaseException as exc:           # re-raised after emu_start
            self._cb_error = exc
            self._emu_stop()
            return 1

    def _new_block(self, address: int, size: int) -> None:
        """native.c sees a block for the first time: hook its special instructions."""
        try:
            self._scan(address, size)
        except BaseException as exc:           # re-raised after emu_start
            self._cb_error = exc
            self._emu_stop()

    def stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
        if self.running:
            self._emu_stop()

    # -- the code hook: every instruction ------------------------------------------------
    def _code(self, uc: Uc, address: int, size: int, _: object) -> None:
        """Exact mode: the boundary before ``address`` (what is due runs, what is pending is
        delivered), then the instruction is charged (not when an interrupt entry replaces
        it: it runs, and is charged, after the handler returns, as native.c counts)."""
        if self.iret_nmi:
            self._nmi_unblock()
        if self.ps >= self.next_ps:
            self.sync()
        if self.attention:
            if self.shadow:
                self.shadow = False
            elif self._boundary(address):
                return
        elif self.shadow:
            self.shadow = False
        self.ps += self.insn_ps
        self.instructions += 1
        k = self.kinds.get(address)
        if k is None:
            k = self.kinds[address] = self._decode(address, size)
        if k[0]:
            self._special(k, address, size)

    def _block(self, uc: Uc, address: int, size: int, _: object) -> None:
        """Block mode: a translated block starts. Its instructions are charged at once,
        pending work is done at this boundary (INTR, NMI, faults), and the block's special
        instructions have their own code hooks (added the first time the block is seen)."""
        n = self.blocks.get(address)
        if n is None:
            n = self._scan(address, size)
            if n < 0:
                return                          # retranslating with the new hooks
        if self.iret_nmi:
            self._nmi_unblock()
        if self.ps > self.bound:
            # Ahead of the others: let them catch up (before the boundary's work, so a
            # pending STI shadow still covers this boundary when the block resumes).
            self.wr(UC_X86_REG_RIP, address)
            self._emu_stop()
            return
        if self.ps >= self.next_ps:
            self.sync()
        if self.attention:
            if self.shadow:
                self.shadow = False
                self.attention = True
            elif self._boundary(address):
                return
        elif self.shadow:
            self.shadow = False
        self.ps += n * self.insn_ps
        self.instructions += n

    def _scan(self, address: int, size: int) -> int:
        """Count a new block's instructions and hook its special ones; -1 when hooks were
        added (the block is translated again with them, from its start)."""
        try:
            code = self.vread(address, size)
        except GuestError:
            self.blocks[address] = 1
            return 1
        n = 0
        added = False
        for a, sz, _, _ in self.md.disasm_lite(code, address):
            n += 1
            if a in self.kinds:
                continue
            k = self._decode_bytes(code[a - address:a - address + sz])
            self.kinds[a] = k
            if not k[0]:
                continue
            added = True
            if self.nat is not None:
                # native.c handles STI, MOV SS, PAUSE and RDTSC itself, and calls
                # _on_special for the others without the binding's dispatch
                how = {PAUSE: native.HOOK_PAUSE, STI: native.HOOK_SHADOW,
                       MOVSS: native.HOOK_SHADOW, RDTSC: native.HOOK_RDTSC}.get(
                           k[0], native.HOOK_SPECIAL)
                hh = ctypes.c_size_t()
                if self._lib.irqsim_hook_at(self._uch, ctypes.byref(self.nat), self._hook_add,
                                            a, how, ctypes.byref(hh)):
                    raise GuestError(f"Unicorn refused a hook at {a:#x}")
                self._c_hooks.append(hh)
            else:
                self.uc.hook_add(UC_HOOK_CODE, self._special_hook, None, a, a)
        self.blocks[address] = max(n, 1)
        if added and self.nat is None:
            self.uc.ctl_remove_cache(address, address + size)
            self.wr(UC_X86_REG_RIP, address)
            return -1
        return self.blocks[address]

    def _special_hook(self, uc: Uc, address: int, size: int, _: object) -> None:
        self._special(self.kinds[address], address, size)

    def _on_special(self, address: int, size: int) -> None:
        """native.c: a special instruction is about to run (not when the boundary handler
        just moved RIP away from it: native.c checks)."""
        try:
            self._absorb()
            st = self.nat
            assert st is not None
            self._special(self.kinds[address], address, size, (st.sp_rax, st.sp_rcx, st.sp_rdx))
            self._arm()
        except BaseException as exc:           # re-raised after emu_start
            self._cb_error = exc
            self._emu_stop()

    def phys(self, va: int) -> int:
        """Translate a virtual address with the guest's page tables (4-level paging with
        2 MiB and 1 GiB pages, SDM vol. 3A 4.5); identity when paging is off. Unicorn's own
        mem_read takes physical addresses. Unicorn's MMU (uc_vmem_translate) answers first,
        in one call; the walk below is for what it refuses."""
        if not _uc_vmem_translate(self._uch, va, 1, self._pref):   # UC_PROT_READ
            return self._pbuf.value
        return self._walk(va)

    def _walk(self, va: int) -> int:
        """:meth:`phys` by walking the guest's page tables in Python."""
        if not self.rd(UC_X86_REG_CR0) >> 31 & 1:
            return va
        ram = self.run.ram
        table = self.rd(UC_X86_REG_CR3) & 0x000FFFFFFFFFF000
        for shift in (39, 30, 21, 12):
            e = ram.read(table + ((va >> shift) & 511) * 8, 8)
            if not e & 1:
                raise GuestError(f"virtual address {va:#x} is not mapped")
            if shift in (30, 21) and e & 0x80:
                base = e & 0x000FFFFFFFFFF000 & ~((1 << shift) - 1)
                return base | (va & ((1 << shift) - 1))
            table = e & 0x000FFFFFFFFFF000
        return table | (va & 0xFFF)

    def vread(self, va: int, n: int) -> bytes:
        """``n`` bytes at virtual ``va`` (page by page)."""
        out = b""
        while n > 0:
            k = min(n, 0x1000 - (va & 0xFFF))
            out += self.run.ram.read_bytes(self.phys(va), k)
            va += k
            n -= k
        return out

    def vwrite(self, va: int, data: bytes) -> None:
        while data:
            k = min(len(data), 0x1000 - (va & 0xFFF))
            self.run.ram.write_bytes(self.phys(va), data[:k])
            va += k
            data = data[k:]

    def _decode(self, address: int, size: int) -> tuple[int, int]:
        try:
            return self._decode_bytes(self.vread(address, min(size, 4)))
        except GuestError:
            return PLAIN, 0

    @staticmethod
    def _decode_bytes(b: bytes) -> tuple[int, int]:
        for prefix, kind in OPCODES:
            if b.startswith(prefix):
                return kind, 0
        i = 1 if b[:1] and b[0] & 0xF0 == 0x40 else 0          # a REX prefix
        if len(b) > i + 1 and b[i] == 0x8E and (b[i + 1] >> 3) & 7 == 2:
            return MOVSS, 0                 # MOV SS, r/m16: a one-instruction shadow too
        if len(b) >= 4 and b[0] & 0xF4 == 0x44 and b[1] == 0x0F and b[2] in (0x20, 0x22) \
                and b[3] & 0xF8 == 0xC0:
            # MOV CR8 (REX.R selects CR8; REX.B extends the GPR): SDM vol. 2B MOV CRn.
            reg = (b[3] & 7) | ((b[0] & 1) << 3)
            return (CR8W if b[2] == 0x22 else CR8R), reg
        return PLAIN, 0

    def _special(self, k: tuple[int, int], address: int, size: int,
                 acd: tuple[int, int, int] | None = None) -> None:
        """The special instruction of kind ``k`` at ``address`` is about to run; ``acd``:
        RAX, RCX and RDX as native.c read them for it (None: read them here)."""
        kind = k[0]
        if kind in (RDMSR, WRMSR):
            msr = self.rd(UC_X86_REG_ECX) if acd is None else acd[1] & 0xFFFFFFFF
            if not (msr in (MSR_TSC, MSR_APIC_BASE, MSR_TSC_DEADLINE) or 0x800 <= msr <= 0x8FF):
                return                                  # Unicorn's own MSR
            if kind == RDMSR and self._poll(("msr", msr)):
                self._warp()                            # e.g. polling x2APIC TMCCT
            self.sync()
            cpu = self.cpu
            if kind == RDMSR:
                v = cpu.rdmsr(msr) if msr != MSR_TSC else self._tsc()
                if self.pending_fault is None:        # RAX and EDX in one call
                    mv = self._mvals
                    mv[0] = v & 0xFFFFFFFF
                    mv[1] = v >> 32 & 0xFFFFFFFF
                    _uc_reg_write_batch(self._uch, self._mregs, self._mptrs, 2)
            else:
                if acd is None:
                    acd = (self.rd(UC_X86_REG_EAX), 0, self.rd(UC_X86_REG_EDX))
                v = (acd[2] & 0xFFFFFFFF) << 32 | (acd[0] & 0xFFFFFFFF)
                cpu.wrmsr(msr, v)
            self.charge(cpu.msr_access_ns)
            if msr == MSR_X2APIC_EOI and self.run.vm_exits:
                # A KVM guest's EOI exits; the hypervisor broadcasts it to the I/O APIC.
                self.charge(self.ctx.timing.guest_trap_io)
            self._next()
            if self.pending_fault is not None:
                self._boundary(address)                 # #GP: the instruction faults
            else:
                self.wr(UC_X86_REG_RIP, address + 2)
            if kind == WRMSR:
                self._poll_reset()
        elif kind == RDTSC:
            if self._poll(("tsc", address)):
                self._warp()
            self.sync()
            v = self._tsc()
            self.wr(UC_X86_REG_RAX, v & 0xFFFFFFFF)
            self.wr(UC_X86_REG_EDX, v >> 32)
            self.wr(UC_X86_REG_RIP, address + 2)
        elif kind == CPUID:
            leaf = self.rd(UC_X86_REG_EAX) & 0xFFFFFFFF
            sub = self.rd(UC_X86_REG_ECX) & 0xFFFFFFFF
            regs = list(self.run.native_cpuid(leaf, sub))
            cpuid.fix(leaf, sub, regs, self.cpu.lapic, self.cpuid_model)
            for r, v in zip((UC_X86_REG_RAX, _reg(3), _reg(1), _reg(2)), regs, strict=True):
                self.wr(r, v)
            self.wr(UC_X86_REG_RIP, address + 2)
        elif kind == HLT:
            self._halt(address + 1)
        elif kind in (STI, MOVSS):
            self.shadow = True
            self.attention = True                       # IF may now let INTR in
        elif kind == PAUSE:
            if self._poll(("pause", address)):
                self._warp()
        elif kind == IRETQ:
            if self.nmi_blocked:
                self.iret_nmi = True
            self.attention = True
        elif kind == CR8W:
            self.sync()
            self.cpu.cr8 = self.rd(_reg(k[1])) & 0xF
            self.charge(self.cpu.lapic_access_ns)
            self._next()
            self.wr(UC_X86_REG_RIP, address + size)
        elif kind == CR8R:
            self.wr(_reg(k[1]), self.cpu.lapic.tpr >> 4)
            self.wr(UC_X86_REG_RIP, address + size)

    def _tsc(self) -> int:
        cpu = self.cpu
        raw = self.now * cpu.ctx.timing.tsc_khz // 1_000_000
        return (raw + cpu.tsc_offset) & 0xFFFFFFFFFFFFFFFF

    # -- polling loops ---------------------------------------------------------------------
    def _poll(self, key: object) -> bool:
        """True when ``key`` (a register, an RDTSC or PAUSE site) is being polled in a tight
        loop: seen again within ``POLL_GAP`` instructions ``POLL_REPEATS`` times running."""
        n = self.instructions
        ent = self.polls.get(key)
        if ent is None:
            self.polls[key] = [0, n]
            return False
        ent[0] = ent[0] + 1 if n - ent[1] <= POLL_GAP else 0
        ent[1] = n
        if ent[0] >= POLL_REPEATS:
            ent[0] = 0
            return True
        return False

    def _poll_reset(self) -> None:
        """An access that changes something: whatever was polled may now move."""
        if self.polls:
            self.polls.clear()
        self.warp_ns = WARP_MIN_NS
        if self.nat is not None:
            self.nat.poll_have = 0
            self.nat.ps_n = 0
            self._m_dirty = True

    def _warp(self) -> None:
        """Skip a polling loop's spinning: to the next event, or by a doubling step."""
        nxt = self.engine.peek()
        now = self.now
        if nxt is not None and nxt > now and nxt - now <= WARP_MAX_NS:
            target = nxt * 1000
        else:
            target = self.ps + self.warp_ns * 1000
            self.warp_ns = min(self.warp_ns * 2, WARP_MAX_NS)
        bound = self.bound
        if target > bound:
            # Another CPU is behind: what this loop waits for may come from it.
            target = max(self.ps, bound)
            if self.running and not self.exact:
                self._emu_stop()
                self.yielded = True
        self.ps = target
        self.warps += 1

    # -- accesses ----------------------------------------------------------------------------
    def _mmio_read_cb(self, _h: int, offset: int, size: int, _ud: object) -> int:
        """uc_mmio_map's read callback: :meth:`_mmio_read`, an exception recorded where
        the binding's emu_start re-raises it (as its own callback guard does)."""
        try:
            return self._mmio_read(self.uc, offset, size, None)
        except BaseException as exc:
            self._hook_error(exc)
            return 0

    def _mmio_write_cb(self, _h: int, offset: int, size: int, value: int, _ud: object) -> None:
        """uc_mmio_map's write callback: :meth:`_mmio_write`, guarded as the read."""
        try:
            self._mmio_write(self.uc, offset, size, value, None)
        except BaseException as exc:
            self._hook_error(exc)

    def _hook_error(self, exc: BaseException) -> None:
        uc = self.uc
        if uc._hook_exception is None:
            uc._hook_exception = exc
        self._emu_stop()

    def _mmio_read(self, uc: Uc, offset: int, size: int, _: object) -> int:
        self._absorb()
        addr = MMIO_BASE + offset
        rel = addr - self._m_base if self.nat is not None else -1
        if self._poll_icr(rel >> 4 & 1) if rel in (0x300, 0x310) else self._poll(("mmio", addr)):
            self._warp()
        self.sync()
        v, cost = self.cpu.timed_read(addr, size)
        self.ps += cost * 1000
        self._after_access("read")
        return v

    def _mmio_write(self, uc: Uc, offset: int, size: int, value: int, _: object) -> None:
        self._absorb()
        self.sync()
        addr = MMIO_BASE + offset
        self.charge(self.cpu.timed_write(addr, size, value))
        if self.run.vm_exits and addr == self.cpu.apic_base + XAPIC_EOI:
            self.charge(self.ctx.timing.guest_trap_io)
        self._poll_reset()                      # (also: the store may have changed ICR)
        self._after_access("write")

    def _in(self, uc: Uc, port: int, size: int, _: object) -> int:
        self._absorb()
        self.sync()
        v, cost = self.cpu.timed_in(port, size)
        self.charge(cost)
        self._after_access("port")
        return v

    def _out(self, uc: Uc, port: int, size: int, value: int, _: object) -> None:
        self._absorb()
        self.sync()
        self.charge(self.cpu.timed_out(port, size, value))
        self._poll_reset()
        self._after_access("port")
        plat = self.run.platform
        if plat.exit_code is not None or plat.shutdown:
            self.run.finish("exit")

    def _invalid(self, uc: Uc, access: int, address: int, size: int, value: int,
                 _: object) -> bool:
        self.stop(f"access to unmapped memory at {address:#x}")
        return False

    def _exception(self, uc: Uc, intno: int, _: object) -> None:
        """An exception (or INT n) raised by an instruction Unicorn executed."""
        self._absorb()
        rip = self.rd(UC_X86_REG_RIP)
        self.exceptions += 1
        code = self._error_code(intno, rip)
        if not self._deliver(intno, rip, code):
            self.stop(f"exception {intno} at {rip:#x} with no usable IDT gate")
        if self.nat is not None:
            self._arm()

    def _error_code(self, intno: int, rip: int) -> int | None:
        """The error code the core pushes for exception ``intno`` Unicorn raised at ``rip``
        (SDM vol. 3A 6.13, 6.15): none for vectors without one or for INT n (RIP is then
        after a CD ib); #PF's from the walk of CR2 (4.7); a segment-load fault's the
        selector (MOV Sreg); 0 otherwise."""
        if intno not in ERROR_CODE_VECTORS:
            return None
        try:
            if self.vread(rip - 2, 2) == bytes((0xCD, intno)):
                return None                                 # INT n pushes no error code
            if intno == 14:
                return self._pf_error_code(rip)
            if intno in (10, 11, 12, 13):
                return self._selector_error_code(rip)
        except GuestError:
            pass
        return 0

    def _insn(self, rip: int) -> object:
        """The instruction at ``rip`` decoded by capstone with operand details."""
        md = getattr(self, "_md_detail", None)
        if md is None:
            md = self._md_detail = Cs(CS_ARCH_X86, CS_MODE_64)
            md.detail = True
        return next(md.disasm(self.vread(rip, 15), rip, 1))

    def _pf_error_code(self, rip: int) -> int:
        """#PF error code (SDM vol. 3A 4.7): P when the page is mapped (a protection
        violation), W/R from the faulting instruction's memory operands (or an implicit
        stack push), U/S at CPL 3, I/D for an instruction fetch when EFER.NXE is set.
        RSVD, PK and SGX are not derived (documented in docs/guest.md)."""
        from capstone.x86 import X86_OP_MEM
        cr2 = self.rd(UC_X86_REG_CR2)
        code = 1 if self._mapped(cr2) else 0
        if self.rd(UC_X86_REG_CS) & 3 == 3:
            code |= 4
        if rip <= cr2 < rip + 15:
            if self.uc.msr_read(0xC0000080) >> 11 & 1:     # EFER.NXE
                code |= 16
            return code
        try:
            insn: Any = self._insn(rip)
        except (GuestError, StopIteration):
            return code
        if insn.mnemonic.startswith(("push", "call", "enter")) or any(
                op.type == X86_OP_MEM and op.access & 2 for op in insn.operands):
            code |= 2                                       # CS_AC_WRITE
        return code

    def _mapped(self, va: int) -> bool:
        """True when every paging-structure entry translating ``va`` is present."""
        try:
            self.phys(va)
        except GuestError:
            return False
        return True

    def _selector_error_code(self, rip: int) -> int:
        """A segment-load fault's error code: the selector's index and TI (SDM 6.13), for
        MOV Sreg, r/m; 0 for other instructions."""
        from capstone.x86 import X86_OP_REG
        try:
            insn: Any = self._insn(rip)
        except (GuestError, StopIteration):
            return 0
        if insn.mnemonic != "mov" or len(insn.operands) != 2:
            return 0
        src = insn.operands[1]
        if insn.bytes[0] != 0x8E and not (insn.bytes[0] & 0xF0 == 0x40 and insn.bytes[1] == 0x8E):
            return 0
        if src.type != X86_OP_REG:
            return 0                                        # a memory source: not re-read
        from unicorn import x86_const
        reg = getattr(x86_const, f"UC_X86_REG_{insn.reg_name(src.reg).upper()}", None)
        return self.rd(reg) & 0xFFFC if reg is not None else 0

    # -- instruction boundaries ----------------------------------------------------------------
    def _boundary(self, address: int) -> bool:
        """Deliver what is pending at this boundary; True when RIP was redirected."""
        self.attention = False
        if self.pending_fault is not None:
            vector, code = self.pending_fault
            self.pending_fault = None
            return self._deliver(vector, address,
                                 code if vector in ERROR_CODE_VECTORS else None)
        if self.nmi_pending and not self.nmi_blocked:
            self.nmi_pending = False
            self.nmi_blocked = True
            led = self.ctx.ledger
            led.land(0, self.cpu.name)
            led.deliver(0, self.cpu.name)
            self.cpu.nmi_count += 1
            if self.ctx.tracer.on:
                self.ctx.tracer.emit(self.engine.now, self.cpu.lapic.name, self.cpu.name, "nmi")
            return self._deliver(VEC_NMI, address, None)
        if self.nmi_pending:
            self.attention = True
        if not self.line:
            return False
        if not self.rd(UC_X86_REG_RFLAGS) & IF:
            self.attention = True                       # re-sampled when IF may change
            return False
        lapic = self.cpu.lapic
        if lapic.deliverable() < 0 and not lapic.extint:
            self.line = False
            return False
        v = lapic.inta()
        if v > 0x1FF:
            return self._accept_extint(v & 0xFF, address)
        spurious = v > 0xFF
        v &= 0xFF
        now = self.engine.now
        tracer = self.ctx.tracer
        if spurious:
            if tracer.on:
                tracer.emit(now, lapic.name, self.cpu.name, "spurious", vector=v)
        else:
            meta = lapic.isr_meta[v]
            iid = meta.iid if meta is not None else 0
            self.ctx.ledger.deliver(iid, self.cpu.name)
            self.cpu.accepted += 1
            self.delivered += 1
            self.vectors[v] += 1
            tp = self.ctx.points.accept
            if tp.on and iid:
                tp(iid, self.cpu.index, now)
            tp = self.ctx.points.handler_entry
            if tp.on:
                tp(iid, self.cpu.index, now, v)
            if tracer.on:
                tracer.emit(now, lapic.name, self.cpu.name, "inta", vector=v, ppr=lapic.ppr)
                tracer.emit(now, self.cpu.name, "Guest", "handler-entry", vector=v)
        self.line = lapic.deliverable() >= 0 or lapic.extint
        self.attention = self.line
        self.charge(self.ctx.timing.cpu_acceptance)
        return self._deliver(v, address, None)

    def _accept_extint(self, v: int, address: int) -> bool:
        """The core's INTA went to the 8259, which answered vector ``v`` (SDM 10.5.1
        ExtINT: no IRR, ISR or EOI at the Local APIC; the guest's EOI goes to the 8259's
        port 20h). The two INTA cycles cost ``pic_inta`` on top of the acceptance, as
        Cpu._accept_extint; a spurious IRQ 7/15 carries no interrupt (iid 0)."""
        lapic = self.cpu.lapic
        iid = lapic.extint_iid
        now = self.engine.now
        self.cpu.accepted += 1
        self.delivered += 1
        self.vectors[v] += 1
        if iid:
            self.ctx.ledger.deliver(iid, self.cpu.name)
            pts = self.ctx.points
            if pts.irr_set.on:
                pts.irr_set(iid, now)
            if pts.accept.on:
                pts.accept(iid, self.cpu.index, now)
        tp = self.ctx.points.handler_entry
        if tp.on:
            tp(iid, self.cpu.index, now, v)
        tracer = self.ctx.tracer
        if tracer.on:
            tracer.emit(now, "8259", self.cpu.name, "inta", vector=v, ppr=lapic.ppr)
            tracer.emit(now, self.cpu.name, "Guest", "handler-entry", vector=v)
        self.line = lapic.deliverable() >= 0 or lapic.extint
        self.attention = self.line
        t = self.ctx.timing
        self.charge(t.cpu_acceptance + t.pic_inta)
        return self._deliver(v, address, None)

    def _deliver(self, vector: int, rip: int, error_code: int | None) -> bool:
        """Enter the guest's handler for ``vector`` with return address ``rip``."""
        uc = self.uc
        _uc_reg_read(self._uch, UC_X86_REG_IDTR, self._mmr_ref)
        idt_base, idt_limit = self._mmr.base, self._mmr.limit
        if vector * 16 + 15 > idt_limit:
            self.stop(f"vector {vector} beyond the IDT limit {idt_limit:#x}")
            return True
        va = idt_base + 16 * vector
        ram = self.run.ram
        if va & 0xFFF <= 0x1000 - 16:           # the gate within one page: read in place
            off_lo, sel, ist, attr, off_mid, off_hi = _GATE.unpack_from(ram.view, self.phys(va))
        else:
            off_lo, sel, ist, attr, off_mid, off_hi = _GATE.unpack(self.vread(va, 16))
        if not attr & 0x80:
            self.stop(f"vector {vector}: IDT gate not present")
            return True
        target = off_lo | off_mid << 16 | off_hi << 32
        ist &= 7
        # RSP, RFLAGS, CS and SS in one call (uc_reg_read_batch)
        vals = self._fvals
        for i in range(4):
            vals[i] = 0                         # CS and SS fill only the low half
        _uc_reg_read_batch(self._uch, self._fregs, self._fptrs, 4)
        rsp, rflags, cs, ss = vals
        new = rsp
        if ist:
            tss = uc.reg_read(UC_X86_REG_TR)[1]
            new = int.from_bytes(self.vread(tss + 0x24 + 8 * (ist - 1), 8), "little")
        new &= ~0xF
        # SS, RSP, RFLAGS, CS, RIP (and the error code) pushed: lowest address first
        if error_code is None:
            new -= 40
            data = _FRAME5.pack(rip, cs, rflags, rsp, ss)
        else:
            new -= 48
            data = _FRAME6.pack(error_code, rip, cs, rflags, rsp, ss)
        if new & 0xFFF <= 0x1000 - len(data):
            ram.write_bytes(self.phys(new), data)
        else:
            self.vwrite(new, data)
        clear = GATE_CLEARS | (IF if attr & 0xF == 0xE else 0)
        # RSP, RFLAGS (and CS) in one call (uc_reg_write_batch), then RIP on its own: only
        # uc_reg_write makes Unicorn leave the translated block for the new RIP
        wv = self._wvals
        wv[0] = new
        wv[1] = rflags & ~clear
        wv[2] = sel
        _uc_reg_write_batch(self._uch, self._wregs, self._wptrs, 2 if sel == cs else 3)
        self.wr(UC_X86_REG_RIP, target)
        return True

    def wakeable(self) -> bool:
        """Something the halted core takes: a fault, an NMI, or INTR with IF set."""
        if self.pending_fault is not None or (self.nmi_pending and not self.nmi_blocked):
            return True
        lapic = self.cpu.lapic
        return (self.line and bool(self.rd(UC_X86_REG_RFLAGS) & IF)
                and (lapic.deliverable() >= 0 or lapic.extint))

    def _halt(self, resume: int) -> None:
        """HLT (SDM vol. 2A): the core waits for an interrupt, NMI or INIT. Alone, the clock
        jumps from event to event; with other CPUs running, the executor hands the host
        back to the scheduler, which wakes it when an interrupt reaches it."""
        self.wr(UC_X86_REG_RIP, resume)
        run = self.run
        while True:
            self.sync()
            if self.wakeable():
                self._boundary(resume)
                return
            if run.finished:
                self.stop("run finished")
                return
            if run.others_running(self):
                self.halting = True
                self.halt_rip = resume
                self._emu_stop()
                return
            nxt = self.engine.peek()
            limit = run.limit_ns
            if nxt is None or (limit is not None and nxt > limit):
                self.stop("halted with nothing left to wake it")
                return
            self.idle_to(nxt * 1000)

    def idle_to(self, ps: int) -> None:
        """The CPU waited (halted, or for its SIPI) until ``ps``: the clock jumps there."""
        if ps > self.ps:
            self.idle_ps += ps - self.ps
            self.ps = ps

    def idle_ns(self, now: int) -> int:
        """Simulated ns this CPU has been idle by ``now`` (mpstat's %idle)."""
        extra = 0
        if self.cpu.state != RUNNING or self in self.run.halted:
            extra = max(0, now * 1000 - self.ps)            # still waiting
        return (self.idle_ps + extra) // 1000

    # -- NMI -------------------------------------------------------------------------------------
    def nmi_in(self) -> None:
        led = self.ctx.ledger
        if self.cpu.state != RUNNING:
            led.drop(Reason.NMI_WAIT_SIPI, 0, self.cpu.name)
            return
        if not self.nmi_blocked and not self.nmi_pending:
            led.launch(0, self.cpu.name)
            self.nmi_pending = True
            self.attention = True
            if self.run.halted:
                self.run.wake(self)
        elif not self.nmi_latched:
            led.launch(0, self.cpu.name)
            self.nmi_latched = True
        else:
            led.drop(Reason.NMI_LATCHED, 0, self.cpu.name)

    def _nmi_unblock(self) -> None:
        self.iret_nmi = False
        self.nmi_blocked = False
        if self.nmi_latched:
            self.nmi_latched = False
            self.nmi_pending = True
            self.attention = True
