"""Without interrupt remapping an MSI carries an 8-bit destination (SDM 11.11.1): the OS
must not aim device vectors at CPUs whose APIC ID is above 254."""

from irqsim.devices.nic import MultiQueueNic
from irqsim.drivers.generic import GenericDriver
from irqsim.machine import Machine


def test_device_vectors_avoid_cpus_with_wide_apic_ids() -> None:
    """300 CPUs (IDs 0-299): all 300 queue vectors land on CPUs with IDs <= 254, and each
    interrupt is handled on the CPU its IRQ names."""
    m = Machine(ncpus=300)
    nic = MultiQueueNic(m.ctx, 300)
    m.add_device(nic)
    m.kernel.register_driver(GenericDriver(((0x8086, 0x1572),), max_vectors=300))
    m.boot()
    k = m.kernel
    descs = [d for d in k.irqs.values() if d.chip.startswith("PCI-MSIX")]
    assert len(descs) == 300
    assert all(k.apic_ids[d.cpu] <= 0xFE for d in descs)
    for q in range(300):
        nic.rx(q)
    m.run()
    assert all(d.counts[d.cpu] == 1 and sum(d.counts) == 1 for d in descs)
    assert m.accounting()["balanced"]
