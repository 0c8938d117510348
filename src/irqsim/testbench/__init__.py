"""The test-bench API: program the machine by hand and look at what arrived
(docs/testbench.md).

    from irqsim.testbench import TestBench, DeviceSpec, MsixLayout
    bench = TestBench(cpus=2)
    nic = bench.add_device(DeviceSpec("nic", msix=MsixLayout(size=4)), at="00:04.0")
    bench.handle(0x41, lambda irq: irq.spend(500))
    ...
    summary = bench.run()
"""

from irqsim.cpu.cpuid import Cpuid
from irqsim.machine import CpuOptions, IoApicOptions, IommuOptions
from irqsim.pci.config import BarSpec
from irqsim.testbench.bench import Code, Fault, Message, RunSummary, Taken, TestBench
from irqsim.testbench.device import Device, DeviceSpec, MsiLayout, MsixLayout

__all__ = ["BarSpec", "Code", "CpuOptions", "Cpuid", "Device", "DeviceSpec", "Fault",
           "IoApicOptions", "IommuOptions", "Message", "MsiLayout", "MsixLayout",
           "RunSummary", "Taken", "TestBench"]
