"""The CPUID a guest sees: Unicorn's own answer, with the leaves that matter to interrupt
code set from irqsim's machine (Intel SDM vol. 2A, CPUID): the APIC feature bit following
IA32_APIC_BASE.EN, x2APIC and TSC-deadline support, the initial APIC ID, leaf 0Bh's x2APIC
ID, ARAT, and MAXPHYADDR (irqsim's APIC base checks use 46 bits)."""

from __future__ import annotations

from dataclasses import dataclass

from irqsim.apic.lapic import LocalApic

MAXPHYADDR = 46


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


def fix(leaf: int, sub: int, regs: list[int], lapic: LocalApic, feat: CpuFeatures) -> None:
    """Adjust Unicorn's [eax, ebx, ecx, edx] for ``leaf``/``sub`` in place."""
    eax, ebx, ecx, edx = regs
    if leaf == 0:
        eax = max(eax, 0xB)
    elif leaf == 1:
        ebx = (ebx & 0x00FFFFFF) | (lapic.initial_id & 0xFF) << 24
        ecx = ecx & ~((1 << 21) | (1 << 24))
        ecx |= (feat.x2apic << 21) | (feat.tsc_deadline << 24)
        edx = (edx & ~(1 << 9)) | (lapic.hw_enabled << 9)
    elif leaf == 6:
        eax = (eax & ~4) | (feat.arat << 2)
    elif leaf == 0xB:
        # One SMT level (level type 1) then the core level (2); EDX is the x2APIC ID.
        eax, ebx = (0, 1) if sub == 0 else (0, 0)
        ecx = (sub & 0xFF) | ((1 if sub == 0 else 2 if sub == 1 else 0) << 8)
        edx = lapic.initial_id
    elif leaf == 0x80000008:
        eax = (eax & ~0xFF) | MAXPHYADDR
    regs[:] = [eax & 0xFFFFFFFF, ebx & 0xFFFFFFFF, ecx & 0xFFFFFFFF, edx & 0xFFFFFFFF]
