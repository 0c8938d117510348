"""Virtual machines as interrupts need them (issue 10; docs/virt.md).

* :mod:`~irqsim.virt.pid`: the posted-interrupt descriptor in simulated memory (VT-d 9.12,
  SDM 29.6) and its atomic operations.
* :mod:`~irqsim.virt.vapic`: the virtual-APIC page (vIRR, vISR, VPPR, RVI/SVI; SDM 29.1-29.2).
* :mod:`~irqsim.virt.vmx`: a vCPU's VMCS controls and what the CPU does in VMX non-root mode
  (posted-interrupt processing, virtual-interrupt delivery, EOI virtualization, VM exits and
  entries, event injection, interrupt-window exiting) plus the guest's interrupt handler.
* :mod:`~irqsim.virt.kvm`: the host hypervisor (Linux/KVM): exit handling, the PID state
  machine on vCPU load/put/block, the 0xF2 / 0xF1 handlers, PIR sync before entry,
  injection.
* :mod:`~irqsim.virt.vfio`: an assigned device whose MSI-X vectors target a guest.
* :mod:`~irqsim.virt.board`: a machine with a hypervisor.
"""
