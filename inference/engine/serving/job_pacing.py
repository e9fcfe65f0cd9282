"""How much of the engine thread a fine-tuning job may take while requests are decoding."""
from __future__ import annotations

# While requests decode, a job's slice of d seconds waits for this many times d seconds of decode
# steps: a job takes at most a third of the thread's time then, so a stream keeps at least two thirds
# of its idle speed (issue target: no worse than 2x per token; bench/finetune.py measures it).
JOB_DEBT_PER_SECOND = 2.0


class JobPacer:
    """Seconds of decode steps owed to the streams for the job slices run so far (no clock inside:
    the loop reports durations)."""

    def __init__(self, debt_per_second: float = JOB_DEBT_PER_SECOND):
        self.debt_per_second = debt_per_second
        self.debt = 0.0

    def may_run(self, decoding: bool) -> bool:
        """Whether the job may run a slice now; with nothing decoding it always may."""
        return not decoding or self.debt <= 0

    def ran_slice(self, seconds: float, decoding: bool) -> None:
        owed = self.debt_per_second * seconds
        # With nothing decoding, slices run back to back and only the last one is owed: a stream that
        # starts now decodes for twice that slice before the next one. (Owing nothing there put a whole
        # slice, ~25 decode steps of the demo model, right after every new stream's first token.)
        self.debt = self.debt + owed if decoding else owed

    def decoded(self, seconds: float) -> None:
        self.debt = max(0.0, self.debt - seconds)
