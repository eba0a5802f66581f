"""Train the zstd dictionary for raw stats reports from the captured SDK calls.

The committed dictionary (api/events/stats-v1.zdict) was made with this
command; a retrained one needs a new codec byte in api/events/codec.py,
since stored rows keep naming the dictionary they were compressed with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import zstandard
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Train a zstd dictionary on the stats reports of captured SDK calls."

    def add_arguments(self, parser) -> None:
        default = Path(settings.BASE_DIR) / "fixtures" / "sdk-payloads"
        parser.add_argument("--payloads", type=Path, default=default)
        parser.add_argument("--size", type=int, default=16384)
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args, **options) -> None:
        samples = []
        for path in sorted(options["payloads"].glob("*.json")):
            for request in json.loads(path.read_text())["requests"]:
                if request["path"].endswith("/stats"):
                    samples.append(orjson.dumps(request["body"]["data"]))
        if not samples:
            raise SystemExit(f"no stats requests found in {options['payloads']}")
        # zstd's trainer wants many samples; the real ones repeated are
        # enough for a dictionary of their shared structure.
        dictionary = zstandard.train_dictionary(options["size"], list[Any](samples * 8))
        options["out"].write_bytes(dictionary.as_bytes())
        self.stdout.write(f"{len(samples)} reports → {options['out']} ({options['size']} bytes)")
