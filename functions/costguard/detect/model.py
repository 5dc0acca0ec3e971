"""Types shared by the detector core, its callers and its state store.

The detector is pure: it sees a series of daily costs up to and including the day it
evaluates, and the state it left the day before. Nothing here touches AWS, Slack or a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Action = Literal["open", "grow", "close"]
"""open: a new episode (the alert); grow: the open episode got materially worse (thread follow-up);
close: spend is back to normal (short note in the thread)."""


@dataclass(frozen=True)
class Event:
    series: str
    day: date
    action: Action
    kind: str  # spike | level_shift | ramp | new_spend (open/grow); recovered | new_normal (close)
    expected: float  # USD that day had it been normal
    actual: float  # USD that day
    impact: float  # USD/day above expected (actual - expected), >= 0 for open/grow
