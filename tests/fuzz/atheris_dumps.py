"""Coverage-guided fuzzing of the configuration-dump readers and the register paths a dump
reaches when booted (tests/fuzz/dump_target.py), with atheris (libFuzzer for Python).

    pip install -e '.[fuzz]'            # atheris is optional: the test suite does not need it
    make fuzz-dumps                     # = python tests/fuzz/atheris_dumps.py \\
                                        #   tests/fuzz/corpus/dumps -max_total_time=120

libFuzzer arguments pass through (``-runs=N``, ``-max_total_time=S``, ``-jobs=N``). New
interesting inputs are added to the corpus directory; a crashing input is written as
``crash-<sha1>``: copy it into tests/fuzz/corpus/dumps/ so test_dump_corpus.py replays it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

with atheris.instrument_imports(include=["irqsim"]):
    from dump_target import one_input


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
