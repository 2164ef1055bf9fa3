"""A channel API's request budget: a token bucket. Pure: the caller passes the time.

`rate` tokens come back per second up to `capacity`. `wait(cost, now)` says how long until
`cost` tokens are there (0: now); `spend` takes them. An API that reports its own bucket
(Shopify's throttleStatus) is followed with `observe`, and a 429 or a THROTTLED answer empties
the bucket for as long as the API says (`pause`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float
    at: float  # when `tokens` was true (seconds, any monotonic clock)
    paused_until: float = 0.0

    @classmethod
    def full(cls, rate: float, capacity: float, now: float) -> TokenBucket:
        if rate <= 0 or capacity <= 0:
            raise ValueError(f"a budget needs a positive rate and capacity, got {rate}/s and {capacity}")
        return cls(rate=rate, capacity=capacity, tokens=capacity, at=now)

    def level(self, now: float) -> float:
        refilling_since = max(self.at, self.paused_until)  # nothing comes back during a pause
        return min(self.capacity, self.tokens + max(0.0, now - refilling_since) * self.rate)

    def wait(self, cost: float, now: float) -> float:
        """Seconds until `cost` tokens can be spent (a cost above capacity waits for a full bucket)."""
        cost = min(cost, self.capacity)
        start = max(now, self.paused_until)
        return (start - now) + max(0.0, cost - self.level(start)) / self.rate

    def spend(self, cost: float, now: float) -> None:
        self.tokens = self.level(now) - cost  # may go below zero: an API that charged more
        self.at = now

    def observe(self, available: float, rate: float, capacity: float, now: float) -> None:
        """What the API says its bucket holds now (it knows the other clients of the shop)."""
        self.rate, self.capacity = rate, capacity
        self.tokens, self.at = min(available, capacity), now

    def pause(self, seconds: float, now: float) -> None:
        self.tokens, self.at = 0.0, now
        self.paused_until = max(self.paused_until, now + seconds)
