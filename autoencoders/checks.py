"""The one place a name is checked against its choices, so every such error reads alike."""

from __future__ import annotations

from collections.abc import Iterable


def check_choice(kind: str, value: object, choices: Iterable[str]) -> None:
    """Raise a ValueError naming the valid choices when `value` is not one of them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(choices)}")
