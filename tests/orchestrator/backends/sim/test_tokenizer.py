import random
import subprocess
import sys

import pytest

from orchestrator.backends.sim import Tokenizer
from orchestrator.backends.sim.tokenizer import EOS_ID, MAX_PIECE_BYTES
from orchestrator.errors import BackendError

ENGLISH = (
    "The quick brown fox jumps over the lazy dog. In 2023, researchers found that large language "
    "models can reason step by step when prompted appropriately; however, their accuracy depends "
    "heavily on the sampling temperature and on how many independent samples are drawn."
)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "a",
        "  leading and trailing  ",
        "tabs\tand\nnew\r\nlines\n\n\n",
        "ünïcödé ✓ 数学 🙂🚀",
        "e\u0301",
        "x_y__z",
    ],
)
def test_decode_inverts_encode(text: str) -> None:
    tokenizer = Tokenizer()
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_round_trip_of_random_unicode() -> None:
    tokenizer, rng = Tokenizer(), random.Random(7)
    alphabet = [chr(c) for c in (*range(32, 127), 0xE9, 0x301, 0x4E2D, 0x1F600, 0x10FFFF, 9, 10, 0xA0)]
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_pieces_are_short_and_cover_the_text() -> None:
    pieces = Tokenizer().pieces(ENGLISH + " antidisestablishmentarianism 🙂🙂🙂")
    assert "".join(pieces) == ENGLISH + " antidisestablishmentarianism 🙂🙂🙂"
    assert max(len(p.encode()) for p in pieces) <= MAX_PIECE_BYTES


def test_english_costs_between_one_and_two_tokens_per_word() -> None:
    ratio = len(Tokenizer().encode(ENGLISH)) / len(ENGLISH.split())
    assert 1.2 <= ratio <= 1.6


def test_reasoning_tags_are_single_tokens() -> None:
    tokenizer = Tokenizer()
    pieces = tokenizer.pieces("<think>\nhi\n</think>")
    assert pieces == ["<think>", "\n", "hi", "\n", "</think>"]


def test_ids_are_identical_in_another_process() -> None:
    code = "from orchestrator.backends.sim import Tokenizer; print(Tokenizer().encode('Hello, wörld 42!'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == str(Tokenizer().encode("Hello, wörld 42!"))


def test_ids_are_positive_int64_and_distinct_per_piece() -> None:
    tokenizer = Tokenizer()
    ids = tokenizer.encode(ENGLISH)
    assert all(0 < i < 2**63 for i in ids)
    assert len(set(ids)) == len(set(tokenizer.pieces(ENGLISH)))


def test_eos_decodes_to_nothing_and_garbage_ids_are_rejected() -> None:
    tokenizer = Tokenizer()
    assert tokenizer.decode([EOS_ID]) == ""
    with pytest.raises(BackendError):
        tokenizer.decode([200])
    with pytest.raises(BackendError):
        tokenizer.decode([(1 << 8) | 0xFF])
