"""The platform ports guests and kvm-unit-tests use, in front of the root complex's own
(0xCF8/0xCFC): a 16550 console at 0x3F8, QEMU's isa-debug-exit at 0xF4, fw_cfg at
0x510/0x511 (CPU count, RAM size), pc-testdev I/O APIC lines at 0x2000 + line, and the
8259 mask ports: ignored on a machine without an 8259 (reads 0xFF, every line masked), the
PIC's own on a machine built with one (``Machine(pic=True)``: the root complex routes
0x20/0x21/0xA0/0xA1 to it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from irqsim.fabric.tlp import Tlp, TlpType
from irqsim.spec.ioapic import RTE_POLARITY_SHIFT

if TYPE_CHECKING:
    from irqsim.fabric.root_complex import RootComplex
    from irqsim.machine import Machine

COM1 = 0x3F8
DEBUG_EXIT = 0xF4
SHUTDOWN = 0x8900
FW_CFG_SELECT = 0x510
FW_CFG_DATA = 0x511
TESTDEV_IRQ = 0x2000
TESTDEV_LINES = 24
PIC_MASKS = (0x21, 0xA1)
DEVICE_TRIGGER = 0x2100          # irqsim's test port: (requester ID << 16) | MSI-X entry
FW_CFG_SIGNATURE, FW_CFG_RAM_SIZE, FW_CFG_NB_CPUS, FW_CFG_MAX_RAM = 0x00, 0x03, 0x05, 0x11
LSR_THRE_TEMT = 0x60             # 16550 line status: transmitter empty
LCR_DLAB = 0x80                  # 16550 line control: 0x3F8/0x3F9 are the divisor latch


class GuestPlatform:
    """Routes CPU port and memory accesses: guest ports here, the rest to the root complex."""

    def __init__(self, machine: Machine, ram_size: int, ncpus: int,
                 vm_exits: bool = False) -> None:
        self.machine = machine
        # As a KVM guest: I/O APIC MMIO traps to the hypervisor, whose in-kernel I/O APIC
        # acts (and delivers) before the guest's next instruction.
        self.vm_exits = vm_exits
        io = machine.ioapic
        self.ioapic_page = io.base & ~0xFFF
        self.rc: RootComplex = machine.rc
        self.console = bytearray()
        self.exit_code: int | None = None
        self.shutdown = False
        self.fw_sel = 0
        self.fw_pos = 0
        self.fw_cfg = {FW_CFG_SIGNATURE: b"QEMU", FW_CFG_NB_CPUS: ncpus.to_bytes(2, "little"),
                       FW_CFG_RAM_SIZE: ram_size.to_bytes(8, "little"),
                       FW_CFG_MAX_RAM: ram_size.to_bytes(8, "little")}
        self.lines = [0] * TESTDEV_LINES
        self.lcr = 0

    # -- the Platform protocol (cpu/cpu.py) ----------------------------------------------
    def cpu_read(self, addr: int, size: int) -> tuple[int, int]:
        v, cost = self.rc.cpu_read(addr, size)
        if self.vm_exits and addr & ~0xFFF == self.ioapic_page:
            cost = self.rc.ctx.timing.guest_trap_io
        return v, cost

    def cpu_write(self, addr: int, size: int, value: int) -> int:
        cost = self.rc.cpu_write(addr, size, value)
        if self.vm_exits and addr & ~0xFFF == self.ioapic_page:
            cost = self.rc.ctx.timing.guest_trap_io
        return cost

    def write_cost(self, addr: int) -> int:
        return self.rc.write_cost(addr)

    def io_write_cost(self, port: int) -> int:
        return self.rc.io_write_cost(port)

    def io_read(self, port: int, size: int) -> tuple[int, int]:
        cost = self.rc.ctx.timing.config_access
        if COM1 <= port < COM1 + 8:
            return (LSR_THRE_TEMT if port == COM1 + 5 else 0), cost
        if port == FW_CFG_DATA:
            item = self.fw_cfg.get(self.fw_sel, b"")
            v = item[self.fw_pos] if self.fw_pos < len(item) else 0
            self.fw_pos += 1
            return v, cost
        if TESTDEV_IRQ <= port < TESTDEV_IRQ + TESTDEV_LINES:
            return self.lines[port - TESTDEV_IRQ], cost
        if port in PIC_MASKS and self.machine.pic is None:
            return 0xFF, cost
        return self.rc.io_read(port, size)

    def io_write(self, port: int, size: int, value: int) -> int:
        cost = self.rc.ctx.timing.config_access
        if port == COM1 + 3:
            self.lcr = value & 0xFF
        elif port == COM1 and not self.lcr & LCR_DLAB:
            self.console.append(value & 0xFF)
        elif COM1 <= port < COM1 + 8 or (port in PIC_MASKS and self.machine.pic is None):
            pass                        # divisor latch, IER, FCR, MCR, absent PIC's masks
        elif port == DEBUG_EXIT:
            # isa-debug-exit: QEMU exits with status (value << 1) | 1.
            self.exit_code = ((value & 0xFFFFFFFF) << 1) | 1
        elif port == SHUTDOWN:
            self.shutdown = True
        elif port == FW_CFG_SELECT:
            self.fw_sel, self.fw_pos = value & 0xFFFF, 0
        elif TESTDEV_IRQ <= port < TESTDEV_IRQ + TESTDEV_LINES:
            self._line(port - TESTDEV_IRQ, value & 1)
            return self.rc.ctx.timing.guest_trap_io
        elif port == DEVICE_TRIGGER and size == 4:
            self._trigger(value >> 16, value & 0xFFFF)
            return self.rc.ctx.timing.guest_trap_io
        else:
            return self.rc.io_write(port, size, value)
        return cost

    def _trigger(self, rid: int, entry: int) -> None:
        """irqsim's test port: the function with requester ID ``rid`` raises MSI-X vector
        ``entry`` as a device event would (its capability then samples the table: masked ->
        PBA, else the message goes upstream)."""
        for fn in self.machine.devices:
            msix = getattr(fn, "msix", None)
            if fn.requester_id == rid and msix is not None:
                msix.signal(entry)
                return

    def _line(self, line: int, level: int) -> None:
        """pc-testdev: drive I/O APIC input ``line``; a rising level is a new interrupt."""
        if self.lines[line] == level:
            return
        self.lines[line] = level
        io = self.machine.ioapic
        if (level ^ (io.rte[line] >> RTE_POLARITY_SHIFT)) & 1:        # asserted
            ctx = self.rc.ctx
            iid = ctx.ledger.raise_("pc-testdev")
            ctx.ledger.launch(iid, "pc-testdev")
            # The wire carries no TLP: the Tlp is the interrupt's stamps only (its id, so the
            # trace, the ledger and the latency probe follow this assertion; its origin).
            meta = Tlp(TlpType.MSG, 0)
            meta.iid = iid
            meta.source = "pc-testdev"
            io.set_pin(line, 1, meta, unit=True)
        else:
            io.set_pin(line, 0)
