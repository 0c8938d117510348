"""Replay of the coverage-guided dump fuzzer's corpus (tests/fuzz/corpus/dumps: irqsim's own
exported dumps as seeds plus inputs atheris found interesting) through the same target as
``make fuzz-dumps``: the readers, the lspci decoder, the export round trip and a booted
machine per dump must not raise and must balance (issue 14, coverage-guided fuzzing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dump_target import one_input

CORPUS = sorted((Path(__file__).parent / "corpus" / "dumps").iterdir())


def test_corpus_is_there() -> None:
    assert len(CORPUS) >= 10


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_input(path: Path) -> None:
    one_input(path.read_bytes())
