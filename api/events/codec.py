"""Compression of raw stats reports.

A getStats() report is ~8 KB of JSON whose keys and most values repeat from
one sample to the next and between browsers. zstd with a dictionary trained
on real SDK reports stores one in ~0.9 KB (zlib alone: ~2.3 KB), which is
what keeps a stored sample, with its metrics and indexes, near 2 KB.

The first byte of every stored value names its codec, so the dictionary can
be retrained (a new codec byte) without rewriting old rows.
"""

from __future__ import annotations

import functools
import threading
import zlib
from pathlib import Path

import zstandard

DICTIONARY_V1 = Path(__file__).with_name("stats-v1.zdict")

ZLIB = 1
ZSTD_DICT_V1 = 2
# Level 3 with the dictionary: ~18 µs a report where level 9 took ~90 µs
# (the worker's largest single cost per sample), for ~115 B more per
# captured SDK report (735 → 849 B; ~6 % of a stored sample with its
# metrics and indexes). The level is not part of the format: decoding is
# the same, old rows stay readable.
_LEVEL = 3


@functools.cache
def _dictionary() -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(DICTIONARY_V1.read_bytes())


# zstd (de)compressors must not be shared between threads, and threaded
# servers (granian, gunicorn gthread) run requests on several threads.
_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(
            level=_LEVEL, dict_data=_dictionary()
        )
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor(dict_data=_dictionary())
    return decompressor


def report_compress(raw: bytes) -> bytes:
    return bytes([ZSTD_DICT_V1]) + _compressor().compress(raw)


def report_decompress(stored: bytes) -> bytes:
    """The raw report; ValueError when the stored value is damaged."""
    if not stored:
        raise ValueError("empty stored report")
    codec, payload = stored[0], bytes(stored[1:])
    try:
        if codec == ZSTD_DICT_V1:
            return _decompressor().decompress(payload)
        if codec == ZLIB:
            return zlib.decompress(payload)
    except (zstandard.ZstdError, zlib.error) as exc:
        raise ValueError(f"damaged stats report: {exc}") from exc
    raise ValueError(f"unknown stats codec {codec}")
