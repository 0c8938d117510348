"""SR-IOV: a physical function and its virtual functions, each with its own MSI-X vectors
(issue 16; docs/sriov.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial

from irqsim.devices.sriov_nic import SriovNic
from irqsim.drivers.generic import GenericDriver
from irqsim.machine import Machine
from irqsim.scenarios import ScenarioOptions, ScenarioResult, knobs_of, register
from irqsim.scenarios.workload import PoissonSource


@dataclass
class SriovKnobs:
    """The number of VFs the OS enables (sriov_numvfs) and the CPUs."""

    num_vfs: int = 4
    cpus: int = 4


@register("sriov", "SR-IOV: an 82576-style NIC enables 4 VFs (sriov_numvfs), each probed with "
          "its own 3 MSI-X vectors; events on every VF queue", knobs=SriovKnobs)
def sriov(opts: ScenarioOptions) -> ScenarioResult:
    k = knobs_of(opts, SriovKnobs)
    m = Machine(k.cpus, trace=opts.trace)
    pf = SriovNic(m.ctx)
    m.add_device(pf)
    m.kernel.register_driver(GenericDriver(ids=((0x8086, 0x10C9), (0x8086, 0x10CA)),
                                           max_vectors=3))
    m.boot()
    pdev = next(p for p in m.kernel.devices if (p.vendor, p.device) == (0x8086, 0x10C9))
    m.kernel.sriov_numvfs(pdev, k.num_vfs)
    rng = random.Random(opts.seed)
    for vf in pf.vfs:
        for q in range(2):                           # RX and TX vectors; 2 is the mailbox
            PoissonSource(m.engine, partial(vf.event, q), opts.requests, opts.mean_gap_ns,
                          rng)
    m.run()
    return ScenarioResult(m, f"SR-IOV: {len(pf.vfs)} VFs of {pf.name}, each with its own "
                          "MSI-X vectors", pf.vfs[0].name if pf.vfs else pf.name,
                          extra={"vfs": [vf.bdf for vf in pf.vfs]})
