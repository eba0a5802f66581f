"""Re-fetch the dashboard's vendored front-end files from the npm registry.

The packages, their pinned versions and the sha256 of every file kept are
in ``api/dashboard/static/dashboard/vendor/manifest.json``. For each
package this downloads the release tarball from the registry, checks the
tarball's sha512 against the registry's ``integrity`` and each extracted
file's sha256 against the manifest, and writes the files under
``vendor/<name>-<version>/``. A mismatch stops with an error and writes
nothing for that package.

    python3 scripts/vendor.py            # fetch, check, write
    python3 scripts/vendor.py --check    # only check the files on disk
    python3 scripts/vendor.py --record   # fetch and record new sha256 (after a version bump)

Needs only the standard library (no npm).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[1] / "api/dashboard/static/dashboard/vendor"
MANIFEST = VENDOR / "manifest.json"
REGISTRY = "https://registry.npmjs.org"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed https URL)
        return response.read()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch(name: str, version: str) -> dict[str, bytes]:
    meta = json.loads(_get(f"{REGISTRY}/{name}/{version}"))
    tarball = _get(meta["dist"]["tarball"])
    algorithm, _, expected = meta["dist"]["integrity"].partition("-")
    if base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode() != expected:
        raise SystemExit(f"{name}@{version}: the tarball does not match the registry's integrity")
    files = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                files[member.name.removeprefix("package/")] = extracted.read()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check the files on disk only")
    parser.add_argument("--record", action="store_true", help="record the fetched sha256")
    options = parser.parse_args()
    manifest = json.loads(MANIFEST.read_text())
    failed = False
    for package in manifest["packages"]:
        name, version = package["name"], package["version"]
        folder = VENDOR / f"{name}-{version}"
        if options.check:
            for path, digest in package["files"].items():
                target = folder / Path(path).name
                if not target.exists() or _sha256(target.read_bytes()) != digest:
                    print(f"{name}@{version}: {target} is missing or differs", file=sys.stderr)
                    failed = True
            continue
        fetched = _fetch(name, version)
        for path, digest in package["files"].items():
            if path not in fetched:
                raise SystemExit(f"{name}@{version}: the tarball has no {path}")
            if options.record:
                package["files"][path] = _sha256(fetched[path])
            elif _sha256(fetched[path]) != digest:
                raise SystemExit(f"{name}@{version}: {path} does not match the manifest")
        folder.mkdir(parents=True, exist_ok=True)
        for path in package["files"]:
            (folder / Path(path).name).write_bytes(fetched[path])
        print(f"{name}@{version}: {len(package['files'])} files in {folder.relative_to(VENDOR)}")
    if options.record:
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
