"""Quality settings: defaults, overrides, and overrides changed while the
process runs (the values are cached per process)."""

from __future__ import annotations

from django.test import override_settings

from api.quality.conf import quality_setting, rule_settings


def test_an_override_replaces_single_keys_and_leaves_the_others_at_their_default():
    # Given the defaults were read (and cached)
    assert quality_setting("MOS_THRESHOLD") == 3.6
    assert rule_settings("high_packet_loss")["raise"] == 3.0

    # When the settings override a top-level value and one key of a rule
    overrides = {"MOS_THRESHOLD": 3.5, "high_packet_loss": {"raise": 5.0}}
    with override_settings(PEERMETRICS_QUALITY=overrides):
        # Then the next reads see them, the other keys keep their defaults
        assert quality_setting("MOS_THRESHOLD") == 3.5
        assert rule_settings("high_packet_loss")["raise"] == 5.0
        assert rule_settings("high_packet_loss")["clear"] == 1.0

    # And without the override the defaults are back
    assert quality_setting("MOS_THRESHOLD") == 3.6
    assert rule_settings("high_packet_loss")["raise"] == 3.0
