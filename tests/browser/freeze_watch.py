"""Each freeze of the videos a page receives, one by one, as webrtc-stats counts them.

Chromium reports a video's freezes only as two running totals on its ``inbound-rtp`` stats,
``freezeCount`` and ``totalFreezesDuration`` (W3C webrtc-stats: a freeze is an inter-frame delay
over max(3 x the average frame duration, the average + 150 ms)). Read once a second, two freezes
that end in the same second add up, and the longest of them is only known as a bound (their sum
less 150 ms for each other one: a 0.64 s and a 0.58 s freeze read as 1.07 s). :func:`start`
polls the totals in the page every 100 ms instead: a freeze lasts more than 150 ms, so each poll
sees at most one end per video, and its duration is the total's step, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIN_FREEZE_S = 0.15  # W3C webrtc-stats: a freeze lasts more than 150 ms

# Polls every remote video's freeze totals; each step is one freeze (or, should a poll have been
# late, several: ``count`` says how many). Senders by their tile's name (a group room), else by
# the track's id.
_START_JS = """
() => {
  if (window.liveloopFreezeWatch) return;
  const last = {};
  const seen = [];
  const poll = async () => {
    const pc = window.liveloop.pc;
    if (!pc) return;
    const names = {};
    document.querySelectorAll("#room-tiles .tile:not(.self)").forEach((tile) => {
      const stream = tile.querySelector("video")?.srcObject;
      const track = stream ? stream.getVideoTracks()[0] : null;
      if (track) names[track.id] = tile.querySelector(".tile-name").textContent;
    });
    (await pc.getStats()).forEach((r) => {
      if (r.type !== "inbound-rtp" || r.kind !== "video") return;
      const count = r.freezeCount ?? 0;
      const total = r.totalFreezesDuration ?? 0;
      const before = last[r.id];
      if (before && count > before.count) {
        seen.push({ at: r.timestamp / 1000, sender: names[r.trackIdentifier] ?? r.trackIdentifier,
                    count: count - before.count, seconds: total - before.total });
      }
      last[r.id] = { count, total };
    });
  };
  window.liveloopFreezeWatch = { seen, timer: setInterval(poll, 100) };
  return poll();
}
"""

_STOP_JS = """
() => {
  const watch = window.liveloopFreezeWatch;
  if (!watch) return [];
  clearInterval(watch.timer);
  delete window.liveloopFreezeWatch;
  return watch.seen;
}
"""


@dataclass(frozen=True)
class Freeze:
    """One freeze that ended: when (wall clock, s), of which sender's video, how long."""

    at: float
    sender: str
    seconds: float
    exact: bool  # False: several ended between two polls; ``seconds`` bounds the longest

    def __str__(self) -> str:
        return f"{self.sender} {self.seconds:.2f} s" + ("" if self.exact else " (at most)")


async def start(page: Any) -> None:
    """Start watching the page's received videos (their freezes from now on)."""
    await page.evaluate(_START_JS)


async def stop(page: Any) -> list[Freeze]:
    """Stop watching; every freeze that ended since :func:`start`, in order."""
    freezes = []
    for x in await page.evaluate(_STOP_JS):
        count = int(x["count"])
        longest = float(x["seconds"]) - (count - 1) * MIN_FREEZE_S
        freezes.append(Freeze(float(x["at"]), str(x["sender"]), longest, count == 1))
    return freezes


def longest(freezes: list[Freeze]) -> float:
    return max((f.seconds for f in freezes), default=0.0)
