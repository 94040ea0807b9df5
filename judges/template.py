"""The judge prompt: a template with `{trace_a}` and `{trace_b}` placeholders, filled in one pass.

Only those two placeholders are special; any other brace (`\\boxed{}`, JSON) is literal text.
"""

from __future__ import annotations

import re

DEFAULT_TEMPLATE = (
    "Below are the beginnings of two independent reasoning traces for the same problem. "
    "Predict whether the two traces will reach the same final answer.\n\n"
    "Trace A:\n{trace_a}\n\n"
    "Trace B:\n{trace_b}\n\n"
    "Will both traces end with the same final answer? Answer with one word: yes or no."
)

PLACEHOLDERS = ("trace_a", "trace_b")

_PLACEHOLDER = re.compile(r"\{(trace_a|trace_b)\}")


def check_template(template: str) -> str:
    """The template itself; `ValueError` naming the placeholders it lacks."""
    found = set(_PLACEHOLDER.findall(template))
    if missing := [name for name in PLACEHOLDERS if name not in found]:
        raise ValueError(f"the judge template lacks {', '.join('{' + name + '}' for name in missing)}")
    return template


def render(template: str, trace_a: str, trace_b: str) -> str:
    """The prompt for one pair: each placeholder replaced by its trace (trace text is never re-read)."""
    traces = {"trace_a": trace_a, "trace_b": trace_b}
    return _PLACEHOLDER.sub(lambda match: traces[match.group(1)], template)


def parser(template: str) -> re.Pattern[str]:
    """A pattern that fully matches the prompts `render` makes from `template`, groups `trace_a`, `trace_b`."""
    parts: list[str] = []
    seen: set[str] = set()
    position = 0
    for match in _PLACEHOLDER.finditer(check_template(template)):
        name = match.group(1)
        parts += [re.escape(template[position : match.start()]), f"(?P={name})" if name in seen else f"(?P<{name}>.*)"]
        seen.add(name)
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts), re.DOTALL)
