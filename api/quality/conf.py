"""Thresholds and limits of the quality analysis, overridable in settings.

``settings.PEERMETRICS_QUALITY`` may override any key: a top-level value
(``{"MOS_THRESHOLD": 3.5}``) or single keys of one detector
(``{"high_packet_loss": {"raise": 5.0}}``). Every detector reads its keys
through :func:`rule_settings`, so an override applies from the next sample on.

Keys of a threshold detector (see ``detectors.engine``):

* ``raise`` / ``clear`` — the value must pass ``raise`` to count as bad and
  come back past ``clear`` to count as good (the gap is the hysteresis);
* ``k`` of ``n`` — how many of the last ``n`` evaluated samples must be bad;
* ``min_seconds`` — and for how long, from the start of the first bad one;
* ``clear_n`` — consecutive good samples that resolve the issue;
* ``error`` — a peak past it escalates the warning to an error (optional).

Persistence is counted in samples: the SDK's interval is 10 s by default,
so "2 of 3" means 20–30 s of trouble. Sources quote 1 s samples ("3 of 5");
with 10 s samples each one already averages ten of those.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # In-process state: connections remembered (least recently used dropped).
    "STATE_MAX_CONNECTIONS": 20_000,
    # Where detector state lives (api.quality.state): None (QUALITY_STATE
    # decides), "auto" (Redis with the queued sink, this process's memory
    # with the direct one), "redis" (needs REDIS_HOST), "memory".
    "STATE_STORE": None,
    # Redis: a connection's state and a conference's marks expire this long
    # after their last write.
    "STATE_TTL_SECONDS": 86_400,
    # How long an app's stats interval is cached in-process.
    "INTERVAL_CACHE_SECONDS": 300,
    # Audio below this MOS counts in "minutes below threshold" (G.109: R < 70,
    # "many users dissatisfied", is MOS 3.6).
    "MOS_THRESHOLD": 3.6,
    # -- network (per inbound stream unless stated)
    "high_packet_loss": {
        "raise": 3.0,
        "clear": 1.0,
        "k": 2,
        "n": 3,
        "clear_n": 2,
        "min_seconds": 0,
        "error": 10.0,
        "min_packets": 20,
    },
    "high_jitter": {"raise": 30.0, "clear": 20.0, "k": 2, "n": 3, "clear_n": 2, "min_seconds": 0},
    "high_rtt": {
        "raise": 400.0,
        "clear": 300.0,
        "k": 2,
        "n": 3,
        "clear_n": 2,
        "min_seconds": 0,
        "error": 800.0,
    },
    # Bytes in the interval: 0 is "dry" (raise below 1, clear from 1 on).
    "one_way_media": {"raise": 1, "clear": 1, "k": 1, "n": 1, "clear_n": 1, "min_seconds": 5},
    "dry_inbound_track": {"raise": 1, "clear": 1, "k": 1, "n": 1, "clear_n": 1, "min_seconds": 5},
    "dry_outbound_track": {"raise": 1, "clear": 1, "k": 1, "n": 1, "clear_n": 1, "min_seconds": 5},
    # -- connectivity
    "connection_disconnected": {"grace_seconds": 5.0},
    "slow_connection_setup": {"raise": 5.0},
    # Flags (1 = relay / TCP in use), raised on the first sample that shows them.
    "turn_used": {"raise": 0.5, "clear": 0.5, "k": 1, "n": 1, "clear_n": 1, "min_seconds": 0},
    "tcp_used": {"raise": 0.5, "clear": 0.5, "k": 1, "n": 1, "clear_n": 1, "min_seconds": 0},
    # -- audio
    "low_emos": {"raise": 3.6, "clear": 3.8, "k": 2, "n": 3, "clear_n": 2, "min_seconds": 30},
    "very_low_emos": {"raise": 3.1, "clear": 3.3, "k": 2, "n": 3, "clear_n": 2, "min_seconds": 30},
    "audio_concealment": {
        "raise": 3.0,
        "clear": 1.0,
        "k": 2,
        "n": 3,
        "clear_n": 2,
        "min_seconds": 0,
        "error": 5.0,
        "min_samples": 24_000,
    },
    "audio_desync": {
        "raise": 10.0,
        "clear": 5.0,
        "k": 2,
        "n": 3,
        "clear_n": 2,
        "min_seconds": 0,
        "min_samples": 24_000,
    },
    # -- video
    "video_freeze": {"raise": 1.0, "clear": 0.0, "k": 1, "n": 1, "clear_n": 1, "min_seconds": 0},
    "low_frame_rate": {"raise": 7.0, "clear": 10.0, "k": 2, "n": 3, "clear_n": 2, "min_seconds": 0},
    "video_decode_overload": {
        "raise": 0.7,
        "clear": 0.85,
        "k": 2,
        "n": 3,
        "clear_n": 2,
        "min_seconds": 0,
        "min_frames": 10,
    },
    "keyframe_storm": {
        "raise": 0.5,
        "clear": 0.15,
        "k": 2,
        "n": 3,
        "clear_n": 2,
        "min_seconds": 0,
    },
    "cpu_limited_sending": {
        "raise": 0.3,
        "clear": 0.1,
        "k": 2,
        "n": 3,
        "clear_n": 2,
        "min_seconds": 0,
    },
    "bandwidth_limited_sending": {
        "raise": 0.5,
        "clear": 0.1,
        "k": 2,
        "n": 3,
        "clear_n": 2,
        "min_seconds": 0,
    },
}


@cache
def _overrides() -> dict[str, Any]:
    # Read for every sample, and while the setting is not defined each
    # read of it costs an AttributeError inside Django's settings object:
    # kept per process (and read again when a test changes the settings).
    value = getattr(settings, "PEERMETRICS_QUALITY", None)
    return value if isinstance(value, dict) else {}


def quality_setting(name: str) -> Any:
    """A top-level setting (e.g. ``MOS_THRESHOLD``)."""
    return _overrides().get(name, DEFAULTS[name])


def rule_settings(code: str) -> dict[str, Any]:
    """The keys of one detector: defaults with the overrides on top.

    Read for every rule of every sample, so merged once per process (and
    again when a test changes the settings). Callers must not mutate it."""
    merged = _merged_rules.get(code)
    if merged is None:
        merged = dict(DEFAULTS.get(code, {}))
        override = _overrides().get(code)
        if isinstance(override, dict):
            merged.update(override)
        _merged_rules[code] = merged
    return merged


_merged_rules: dict[str, dict[str, Any]] = {}


@receiver(setting_changed)
def _forget_overrides(setting: str, **kwargs) -> None:
    if setting == "PEERMETRICS_QUALITY":
        _overrides.cache_clear()
        _merged_rules.clear()
