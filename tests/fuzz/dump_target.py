"""One input of the coverage-guided dump fuzzer (tests/fuzz/atheris_dumps.py), also run over
the saved corpus by tests/fuzz/test_dump_corpus.py. No atheris import here.

The bytes go through the auto-detecting reader (hex text of ``lspci -x/-xxx/-xxxx`` or raw
sysfs binary), every dump through the lspci decoder and an export/read round trip, and each
dump that can become a simulated function is booted in a machine (the OS's set-up writes
reach its config space, MSI and MSI-X registers) and every allocated vector raised once.
Checked: no exception escapes, problems are one line each and name the file, the round trip
keeps the bytes, and the booted machine's books balance when it goes idle.
"""

from __future__ import annotations

from irqsim.devices.dumped import DumpedFunction, DumpError
from irqsim.drivers.generic import GenericDriver
from irqsim.formats.dumpfile import STANDARD_SIZES, format_hex_dump, parse_bytes, parse_hex_text
from irqsim.machine import Machine
from irqsim.sim.budget import Budget, BudgetExceeded
from irqsim.views.lspci import decode

BUDGET = Budget(max_sim_ns=50_000_000, max_events=100_000, storm_limit=500)
FILE = "fuzz.bin"


def one_input(data: bytes, boot: bool = True) -> None:
    """Run one fuzz input; AssertionError (or any exception) is a finding."""
    dumps, loose = parse_bytes(data, FILE)
    for p in loose:
        assert p.file == FILE and "\n" not in str(p)
    for d in dumps:
        assert d.length <= 4096 and all("\n" not in str(p) for p in d.problems)
        listing = decode(d)
        assert all("\n" not in p for p in listing.problems)
        if d.length in STANDARD_SIZES:
            text = format_hex_dump(d.slot_text, "x", bytes(d.data), d.length)
            (back,), _ = parse_hex_text(text)
            assert bytes(back.data) == bytes(d.data)
        if boot:
            _boot(d)


def _boot(dump: object) -> None:
    with BUDGET.active():
        m = Machine(ncpus=2, latency=False)
    try:
        fn = DumpedFunction(m.ctx, dump)  # type: ignore[arg-type]
    except DumpError:
        return
    m.add_device(fn)
    ids = ((fn.config.read(0, 2), fn.config.read(2, 2)),)
    causes = ({ids[0]: (fn.cause_bar, fn.bars[fn.cause_bar].size - 16)}
              if fn.cause_bar is not None else {})
    drv = GenericDriver(ids, cause_registers=causes)
    m.kernel.register_driver(drv)
    m.boot()
    for k in range(drv.vectors.get(f"0000:{fn.bdf}", 0)):
        fn.raise_vector(k)
    try:
        m.run()
    except BudgetExceeded:
        return
    acc = m.accounting()
    assert acc["balanced"] and acc["in_flight"] == 0, acc
