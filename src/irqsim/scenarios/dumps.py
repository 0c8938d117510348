"""Machines built from real configuration dumps (issue 4: dumps as devices)."""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path

from irqsim.devices.dumped import CAUSE_REGISTER_SIZE, DumpedFunction, DumpedVf, DumpError
from irqsim.drivers.generic import GenericDriver
from irqsim.formats.dumpfile import DumpError as DumpFileError
from irqsim.formats.dumpfile import read_dump_file
from irqsim.machine import Machine
from irqsim.pci.express import link_status, set_link_capability
from irqsim.scenarios import ScenarioResult
from irqsim.scenarios.workload import PoissonSource
from irqsim.sim.trace import TraceOption
from irqsim.spec import pcie as X
from irqsim.spec.modes import IrqMode


def load_devices(m: Machine, files: list[str | Path], sriov: bool = True
                 ) -> tuple[list[DumpedFunction], list[str]]:
    """Read every dump file and add each endpoint to ``m``; returns devices and problems."""
    devs: list[DumpedFunction] = []
    problems: list[str] = []
    for f in files:
        try:
            dumps, probs = read_dump_file(f)
        except DumpFileError as e:
            problems.append(str(e))
            continue
        stem = Path(f).name.split(".")[0]
        problems += [str(p) for p in probs]
        for d in dumps:
            problems += [str(p) for p in d.problems]
            try:
                fn = DumpedFunction(m.ctx, d, name=stem if len(dumps) == 1
                                    else f"{stem}@{d.slot_text}", sriov=sriov)
            except DumpError as e:
                problems.append(str(e))
                continue
            # The slot it came from: a root port whose LnkCap is the dump's LnkSta, so the
            # link trains to the speed and width the real device ran at (docs/timing.md).
            port = m.add_root_port()
            dumped = link_status(fn.config)
            if dumped is not None:
                set_link_capability(port.config, dumped)
            m.add_device(fn, port)
            devs.append(fn)
    return devs, problems


def run_dumps(files: list[str | Path], ncpus: int = 4, requests: int = 200,
              mean_gap_ns: float = 20_000.0, seed: int = 1,
              trace: TraceOption = True, sriov_numvfs: int | None = None,
              sriov: bool = True) -> ScenarioResult:
    """Boot a machine whose devices are the dumps' functions and raise every vector.

    A PF with SR-IOV gets ``sriov_numvfs`` VFs (None: as many as the dump's NumVFs shows,
    the live machine's setting) through the sysfs file, and each VF's vectors are raised too;
    ``sriov`` False keeps dumped VF BARs read-only (the OS then reports OS-SRIOV-VF-BAR)."""
    m = Machine(ncpus=ncpus, trace=trace)
    devs, problems = load_devices(m, files, sriov)
    ids = tuple({(d.config.read(0, 2), d.config.read(2, 2)) for d in devs}
                | {(d.config.read(0, 2), d.sriov.vf_device) for d in devs
                   if d.sriov and d.vf_msix})
    causes = {(d.config.read(0, 2), d.config.read(2, 2)):
              (d.cause_bar, d.bars[d.cause_bar].size - CAUSE_REGISTER_SIZE)
              for d in devs if d.cause_bar is not None}
    drv = GenericDriver(ids, cause_registers=causes)
    m.kernel.register_driver(drv)
    m.boot()
    rng = random.Random(seed)
    by_slot = {p.slot: p for p in m.kernel.devices}
    notes: list[str] = []
    sources: list[tuple[str, DumpedFunction | DumpedVf]] = [(d.name, d) for d in devs]
    for d in devs:
        pdev = by_slot.get(f"0000:{d.bdf}")
        if pdev is None or pdev.sriov is None:
            continue
        at = pdev.sriov.pos
        dumped_n = int.from_bytes(d.dump.data[at + X.SRIOV_NUM_VFS.offset:
                                              at + X.SRIOV_NUM_VFS.offset + 2], "little")
        n = dumped_n if sriov_numvfs is None else sriov_numvfs
        if not n:
            notes.append(f"{d.name}: SR-IOV with {pdev.sriov.total_vfs} VFs; none enabled "
                         "(the dump's NumVFs is 0; --sriov-numvfs N enables N)")
            continue
        try:
            got = m.kernel.sriov_numvfs(pdev, n)
        except OSError as e:
            notes.append(f"{d.name}: sriov_numvfs {n}: {e.strerror}"
                         + ("" if d.sriov else " (SR-IOV capability not modelled: "
                            "its bytes are read-only, no VF appears)"))
            continue
        assert d.sriov is not None
        notes.append(f"{d.name}: sriov_numvfs {n}: {got} VFs enabled (VF Device ID "
                     f"{d.sriov.vf_device:04x}), "
                     + (f"each with {d.vf_msix[0]} MSI-X vectors" if d.vf_msix else
                        "without MSI-X: no VF BAR can hold it (the dump's VF BARs are not "
                        "implemented); no driver binds"))
        if d.vf_msix:
            sources += [(vf.name, vf) for vf in d.sriov.vfs if isinstance(vf, DumpedVf)]
    by_slot = {p.slot: p for p in m.kernel.devices}
    for name, fn in sources:
        pdev = by_slot.get(f"0000:{fn.bdf}")
        if pdev is None or not pdev.irqs:
            notes.append(f"{name}: no interrupt set up, no events raised")
            continue
        if isinstance(fn, DumpedVf):
            notes.append(f"{name}: {pdev.irq_mode} with {len(pdev.irqs)} IRQ(s)")
            for k in range(len(pdev.irqs)):
                PoissonSource(m.engine, partial(fn.raise_vector, k), requests, mean_gap_ns, rng)
            continue
        if pdev.irq_mode == IrqMode.INTX and fn.cause_bar is None:
            notes.append(f"{name}: INTx but no memory BAR for the cause register; "
                         "no events raised")
            continue
        link = fn.link.speed if fn.link is not None else None
        notes.append(f"{name}: {pdev.irq_mode} with {len(pdev.irqs)} IRQ(s), link "
                     + (str(link) if link else "of the default cost (the dump shows none)"))
        for k in range(len(pdev.irqs)):
            PoissonSource(m.engine, partial(fn.raise_vector, k), requests, mean_gap_ns, rng)
    m.run()
    focus = next((d.name for d in devs if d.msix is not None), devs[0].name if devs else "")
    notes += [f"dump problem: {p}" for p in problems]
    notes += [f"{slot}: {why}" for slot, why in drv.failed.items()]
    return ScenarioResult(m, f"Devices from configuration dumps: {', '.join(map(str, files))}",
                          focus, notes=notes, extra={
                              "vectors_per_device": drv.vectors,
                              "links": {d.name: {"gen": d.link.speed.gen,
                                                 "width": d.link.speed.width}
                                        for d in devs if d.link and d.link.speed},
                              "vfs": {d.name: [vf.bdf for vf in d.sriov.vfs]
                                      for d in devs if d.sriov and d.sriov.vfs}})
