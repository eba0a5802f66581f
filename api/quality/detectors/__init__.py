"""Issue detectors (codes, titles and sources in :mod:`api.quality.catalogue`).

* ``engine`` — the hysteresis every threshold rule shares.
* ``streams`` — rules on each track's metrics and on the candidate pair,
  run for every stats sample as it arrives.
* ``connectivity`` — rules on connection state events (failed, disconnected
  with a grace period, slow setup).
* Session-level checks (getUserMedia errors, rejoins, end-of-session
  ``no_media_access``/``no_connection``) need the database and live in
  :mod:`api.quality.services`.
"""
