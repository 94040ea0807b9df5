"""Chat prompts and reasoning content for the simulated OpenAI chat endpoint.

The chat template is ChatML, as Qwen models use it: each message becomes
`<|im_start|>{role}\\n{content}<|im_end|>\\n` and the prompt ends with `<|im_start|>assistant\\n`
(content parts of type `text` are joined; other parts are ignored). With `--reasoning-parser` the
text between `<think>` and `</think>` is `reasoning_content` and the rest `content`, as SGLang's
Qwen3 detector splits it (no forced reasoning: output without `<think>` is all content; output
cut before `</think>` is all reasoning).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

THINK_START = "<think>"
THINK_END = "</think>"


def message_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = (part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")
    return "".join(parts)


def chat_prompt(messages: Iterable[tuple[str, str]]) -> str:
    turns = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    return turns + "<|im_start|>assistant\n"


def split_reasoning(text: str) -> tuple[str | None, str]:
    """(reasoning_content or None, content) of a whole output."""
    if THINK_START not in text:
        return None, text
    body = text.split(THINK_START, 1)[1]
    if THINK_END not in body:
        return body or None, ""
    reasoning, content = body.split(THINK_END, 1)
    return reasoning or None, content


@dataclass
class ReasoningStream:
    """Splits streamed deltas into (reasoning, content), holding back a possibly split tag."""

    buffer: str = ""
    in_reasoning: bool = False
    started: bool = False

    def feed(self, delta: str) -> tuple[str, str]:
        text = self.buffer + delta
        self.buffer = ""
        if not self.started and THINK_START in text:
            text = text.replace(THINK_START, "", 1)
            self.started = self.in_reasoning = True
        if self.in_reasoning and THINK_END in text:
            reasoning, content = text.split(THINK_END, 1)
            self.in_reasoning = False
            return reasoning, content
        hold = _partial_tag(text, (THINK_END,) if self.started else (THINK_START, THINK_END))
        self.buffer, text = text[len(text) - hold :], text[: len(text) - hold]
        return (text, "") if self.in_reasoning else ("", text)

    def flush(self) -> tuple[str, str]:
        text, self.buffer = self.buffer, ""
        return (text, "") if self.in_reasoning else ("", text)


def _partial_tag(text: str, tags: tuple[str, ...]) -> int:
    """Length of the longest tail of `text` that is a strict prefix of one of `tags`."""
    for size in range(min(len(text), max(map(len, tags)) - 1), 0, -1):
        if any(tag.startswith(text[-size:]) for tag in tags):
            return size
    return 0
