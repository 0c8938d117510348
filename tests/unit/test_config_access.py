"""Configuration access paths: ECAM MMIO and mechanism #1 (ports 0xCF8/0xCFC), PCI 3.0
3.2.2.3.2 and PCIe Base 7.2.2; enumeration through bridges (PCI-PCI Bridge 1.2)."""

from helpers import nic_machine

CF8, CFC = 0xCF8, 0xCFC


def test_ecam_and_cf8_read_the_same_registers() -> None:
    """Both mechanisms reach the same function's configuration space."""
    m, _nics, drv = nic_machine()
    pd = drv.pdevs[0]
    cpu = m.cpus[0]
    for off in (0x00, 0x04, 0x08, 0x10, 0x34):
        cpu.outl(CF8, 0x80000000 | pd.bus << 16 | pd.devfn << 8 | off)
        assert cpu.inl(CFC) == m.kernel.cfg_read(pd.bus, pd.devfn, off, 4)


def test_cf8_write_reaches_config_space() -> None:
    """A write through 0xCFC with the enable bit set updates the register."""
    m, nics, drv = nic_machine()
    pd = drv.pdevs[0]
    cpu = m.cpus[0]
    cpu.outl(CF8, 0x80000000 | pd.bus << 16 | pd.devfn << 8 | 0x3C)
    cpu.outl(CFC, 0x0000000A, size=1)
    assert nics[0].config.read(0x3C, 1) == 0x0A


def test_cf8_without_enable_bit_reads_all_ones() -> None:
    """CONFIG_ADDRESS bit 31 clear: no configuration cycle."""
    m, _nics, _drv = nic_machine()
    m.cpus[0].outl(CF8, 0x00000000)
    assert m.cpus[0].inl(CFC) == 0xFFFFFFFF


def test_absent_function_reads_all_ones() -> None:
    """Master abort on a configuration read returns all ones (vendor 0xFFFF = empty slot)."""
    m, _nics, _drv = nic_machine()
    assert m.kernel.cfg_read(7, 0, 0, 2) == 0xFFFF
    assert m.kernel.cfg_read(0, 0x1F << 3, 0, 4) == 0xFFFFFFFF


def test_enumeration_numbers_buses_behind_root_ports() -> None:
    """Depth-first bus numbering: root port secondary = 1, 2, ...; endpoints below them."""
    m, nics, drv = nic_machine(devices=3)
    ports = [f for f in m.rc.functions() if f.config.read(0x0E, 1) & 0x7F == 1]
    assert [(p.secondary_bus, p.subordinate_bus) for p in ports] == [(1, 1), (2, 2), (3, 3)]
    assert [n.bdf for n in nics] == ["01:00.0", "02:00.0", "03:00.0"]
    assert [p.bus for p in drv.pdevs] == [1, 2, 3]


def test_root_port_without_bus_master_blocks_upstream_msi() -> None:
    """A bridge forwards upstream memory requests (MSIs too) only with Bus Master Enable."""
    m, nics, drv = nic_machine()
    port = nics[0].parent
    m.kernel.cfg_write(0, port.devfn, 0x04, 2, m.kernel.cfg_read(0, port.devfn, 0x04, 2) & ~4)
    nics[0].rx(0)
    m.run()
    assert drv.calls == []
    assert m.ctx.ledger.dropped["bridge bus master disabled"] == 1
    assert m.accounting()["balanced"]
