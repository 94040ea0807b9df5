"""Secrets never leave the process: API keys are read from the environment and redacted from all output."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$|^AUTH", re.IGNORECASE)
_SHORTEST = 8
MASK = "***"


def secret_values() -> list[str]:
    """The values of environment variables whose names say they hold a secret, longest first."""
    values = {value for name, value in os.environ.items() if _SECRET_NAME.search(name) and len(value) >= _SHORTEST}
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: Sequence[str] | None = None) -> str:
    """`text` with every secret (by default: from the environment, read now) replaced by `***`."""
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, MASK)
    return text
