"""The CPUID a guest sees: Unicorn's own answer, with the leaves that matter to interrupt
code taken from the machine's CPUID data (:meth:`irqsim.machine.Machine.cpuid`, Intel SDM
vol. 2A CPUID): the APIC feature bit following IA32_APIC_BASE.EN, x2APIC and TSC-deadline
support, the initial APIC ID, leaf 0Bh's topology and x2APIC ID, ARAT, and MAXPHYADDR (the
width irqsim's IA32_APIC_BASE checks use)."""

from __future__ import annotations

from dataclasses import dataclass

from irqsim.apic.lapic import LocalApic
from irqsim.cpu.cpuid import Cpuid
from irqsim.machine import CpuOptions


@dataclass(frozen=True, slots=True)
class CpuFeatures:
    """Guest-visible features of every CPU (``--cpu-features +x2apic,-tsc-deadline``)."""

    x2apic: bool = True
    tsc_deadline: bool = True
    arat: bool = True

    @classmethod
    def parse(cls, text: str, base: CpuFeatures | None = None) -> CpuFeatures:
        """``+x2apic,-tsc-deadline`` applied to ``base``; ValueError names a bad item."""
        f = base or cls()
        vals = {"x2apic": f.x2apic, "tsc-deadline": f.tsc_deadline, "arat": f.arat}
        for item in filter(None, (t.strip() for t in text.split(","))):
            sign, name = item[0], item[1:]
            if sign not in "+-" or name not in vals:
                raise ValueError(f"--cpu-features: {item!r} is not +/- one of "
                                 f"{', '.join(vals)}")
            vals[name] = sign == "+"
        return cls(vals["x2apic"], vals["tsc-deadline"], vals["arat"])

    def options(self, ncpus: int) -> list[CpuOptions]:
        """``ncpus`` CPUs (APIC IDs 0..n-1) with these features, for a Machine."""
        return [CpuOptions(i, x2apic=self.x2apic, tsc_deadline=self.tsc_deadline,
                           arat=self.arat) for i in range(ncpus)]


def fix(leaf: int, sub: int, regs: list[int], lapic: LocalApic, model: Cpuid) -> None:
    """Adjust Unicorn's [eax, ebx, ecx, edx] for ``leaf``/``sub`` in place from the machine's
    CPUID data (:class:`irqsim.cpu.cpuid.Cpuid`, what the board built): the APIC-related
    fields are the machine's, the other feature bits stay Unicorn's (FPU, TSC, MSR, SSE...)."""
    eax, ebx, ecx, edx = regs
    m_eax, m_ebx, m_ecx, m_edx = model.leaf(leaf, sub)
    if leaf == 0:
        eax = max(eax, m_eax)
    elif leaf == 1:
        ebx = (ebx & 0x0000FFFF) | (m_ebx & 0xFFFF0000)      # logical count, initial APIC ID
        ecx = (ecx & ~((1 << 21) | (1 << 24))) | (m_ecx & ((1 << 21) | (1 << 24)))
        # CPUID.01H:EDX.APIC follows IA32_APIC_BASE.EN (SDM 10.4.3).
        edx = (edx & ~(1 << 9)) | (lapic.hw_enabled << 9)
    elif leaf == 6:
        eax = (eax & ~4) | (m_eax & 4)
    elif leaf in (0xB, 0x80000008):
        eax, ebx, ecx, edx = m_eax, m_ebx, m_ecx, m_edx
    regs[:] = [eax & 0xFFFFFFFF, ebx & 0xFFFFFFFF, ecx & 0xFFFFFFFF, edx & 0xFFFFFFFF]
