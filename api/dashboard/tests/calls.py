"""Calls made through the SDK routes for the dashboard's tests: a lossy
two-party call from the bench traffic generator's reports (the captured
SDK report, counters advanced, a share of inbound packets lost)."""

from __future__ import annotations

from bench.sdk_traffic import StatsSynth, Templates


class LossyCall:
    """Alice and Bob in ``room-1``; each tick both send a stats sample."""

    def __init__(self, page, clock, *, interval_s: float = 10.0):
        self.clock = clock
        self.interval_s = interval_s
        self.alice = page("alice").join()
        self.bob = page("bob").join()
        self.links = [self.alice.add_connection("bob"), self.bob.add_connection("alice")]
        templates = Templates()
        self.synths = [StatsSynth(templates, interval_s=interval_s) for _ in self.links]

    def ticks(self, count: int, *, loss: float = 0.0) -> None:
        for _ in range(count):
            self.clock.advance(seconds=self.interval_s)
            for sender, link, synth in zip(
                (self.alice, self.bob), self.links, self.synths, strict=True
            ):
                answer = sender.stats(link, data=synth.next(loss=loss))
                assert answer.status == 200, answer

    def end(self) -> None:
        self.clock.advance(seconds=1)
        for sender in (self.alice, self.bob):
            assert sender.browser_event("endCall").status == 200
