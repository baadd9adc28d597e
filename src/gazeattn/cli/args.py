"""Argument types the commands share: each names what it allows, so argparse's one-line usage error says it."""

from __future__ import annotations

import argparse


def int_in(low: int, high: int | None = None):
    """An argparse type: an int in [low, high] (no upper bound when ``high`` is None)."""
    allowed = f">= {low}" if high is None else f"in {low}..{high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"want an integer {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    return parse
