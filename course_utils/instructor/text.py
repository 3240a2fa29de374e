"""Text that comes from a submission, made safe for the reports."""

from __future__ import annotations

from typing import Any

MAX_REASON = 600


def clean_text(text: Any, cap: int = MAX_REASON) -> str:
    """Text from a submission made safe for the reports: a string, no NUL, at most ``cap`` characters."""
    text = text if isinstance(text, str) else str(text)
    text = text.replace("\x00", "")
    return text if len(text) <= cap else text[: cap - 3] + "..."

