"""Log-probabilities in SGLang's shape: `[logprob, token_id, text]` triples, text null unless asked.

The simulator gives the sampled token's logprob and the top-k values; the other top-k candidates
are not modelled, so they are given the ids of common tokens (" the", ",", ...), the sampled token
keeping its own id where its value appears.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from orchestrator.backends.sim.tokenizer import piece_id, piece_text

ALTERNATIVES = tuple(
    piece_id(piece)
    for piece in (" the", ",", ".", " a", " and", " of", " to", " is", " in", " that", "\n", " it", " we", " so")
)

Triple = list[Any]


def token_triples(ids: Sequence[int], logprobs: Sequence[float], with_text: bool) -> list[Triple]:
    return [[lp, token, _text(token, with_text)] for lp, token in zip(logprobs, ids)]


def top_triples(token: int, values: Sequence[float], chosen: float, with_text: bool) -> list[Triple]:
    """One position's top-k: the sampled token where its value is, common tokens elsewhere."""
    others = _alternatives(token)
    rows: list[Triple] = []
    placed = False
    for value in values:
        if not placed and value == chosen:
            rows.append([value, token, _text(token, with_text)])
            placed = True
        else:
            alt = next(others)
            rows.append([value, alt, _text(alt, with_text)])
    return rows


def _alternatives(token: int) -> Iterator[int]:
    spare = (piece_id(f" w{i}") for i in itertools.count())
    return (alt for alt in itertools.chain(ALTERNATIVES, spare) if alt != token)


def _text(token: int, with_text: bool) -> str | None:
    return piece_text(token) if with_text else None
