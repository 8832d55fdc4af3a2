"""What every long-running protocol process (the DC service, a node) needs besides the protocol itself:
bounded patience with a peer that stopped answering, and a stopwatch of where its time goes.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


class NotAdmitted(Exception):
    """A node's key was granted no stake (or, on a board, assigned no direction block) within the time allowed."""


class Unreachable(Exception):
    """A peer (the chain's RPC endpoint, the model store) stopped answering for longer than the process's
    patience. The message is one line: what, for how long, and the last error."""


@dataclass
class Patience:
    """Retry with a doubling pause (`first`, 2 `first`, ... at most `cap` seconds) while the failures in a row
    have waited less than `seconds` in all; `ok()` after any success starts again. The failure that finds the
    budget spent raises Unreachable."""

    seconds: float = 30.0
    first: float = 0.25
    cap: float = 4.0
    failures: int = 0
    waited: float = 0.0

    def failed(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        if self.waited >= self.seconds:
            detail = str(exc).splitlines()[0] if str(exc) else "no detail"
            raise Unreachable(f"{what}: no answer after {self.failures} tries over {self.waited:.0f} s "
                              f"({type(exc).__name__}: {detail})")
        delay = min(self.first * 2 ** (self.failures - 1), self.cap, self.seconds - self.waited)
        time.sleep(delay)
        self.waited += delay

    def ok(self) -> None:
        self.failures, self.waited = 0, 0.0

    def lost(self, exc: OSError, chain: str, say) -> None:
        """A node's chain or store stopped answering: say so once, then `failed` (wait, or Unreachable)."""
        what = "store" if str(exc).startswith("store") else f"chain {chain}"
        if self.failures == 0:
            say(f"lost the {what} ({type(exc).__name__}); retrying for up to {self.seconds:g} s")
        self.failed(what, exc)


@dataclass
class Stopwatch:
    """Wall seconds, CPU seconds of this process and counts per named part (e.g. "rpc", "poll", "hash",
    "gradient"), written as JSON on request (with the process's CPU seconds in all)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @contextmanager
    def __call__(self, part: str) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[part] += time.perf_counter() - t0
            self.cpu[part] += time.process_time() - c0
            self.counts[part] += 1

    def dump(self, path: Path | None, **extra) -> None:
        if path is not None:
            Path(path).write_text(json.dumps({"seconds": dict(self.seconds), "cpu": dict(self.cpu),
                                              "counts": dict(self.counts), "process_cpu": time.process_time(),
                                              **extra}))
