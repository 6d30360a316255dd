"""The .hxb bundle file: a zip of named members plus manifest.json; write atomically, read verified.

Layout and versioning are documented in docs/bundle-format.md. Every format version keeps
its reader in READERS, so a later hybrix opens every earlier bundle. Members are stored
uncompressed; params.bin starts on a 64-byte boundary of the file so it can be mapped.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hybrix.runtime.errors import (
    BundleCorruptError,
    BundleError,
    BundleVersionError,
    MissingMemberError,
)

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MANIFEST", "READERS", "Bundle", "write_bundle"]

FORMAT_NAME = "hybrix-bundle"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
PARAMS = "params.bin"
_ALIGN = 64
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # zip local file header, 30 bytes
_PAD_ID = 0xD935  # the extra-field id Android's zipalign uses for padding


# -- writing ------------------------------------------------------------------------------------
def write_bundle(
    path: str | os.PathLike[str], manifest: Mapping[str, Any], members: Mapping[str, bytes]
) -> dict[str, Any]:
    """Write members and the manifest (with sha256 and size of every member) atomically.

    Returns the manifest as written. Nothing appears at `path` unless the whole file did.
    """
    path = Path(path)
    written = dict(manifest)
    written["members"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in members.items()
    }
    directory = path.parent if str(path.parent) else Path(".")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
                archive.writestr(_entry(MANIFEST, 0), json.dumps(written, indent=1))
                for name, data in members.items():
                    archive.writestr(_entry(name, file.tell(), len(data)), data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return written


def _entry(name: str, position: int, size: int = 0) -> zipfile.ZipInfo:
    """A stored ZipInfo whose data starts on a 64-byte boundary of the file (for params)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    if name == PARAMS:
        start = position + _LOCAL_HEADER.size + len(name.encode())
        if size >= 1 << 32:
            start += 20  # the zip64 extra field zipfile adds to the local header
        padding = -(start + 4) % _ALIGN
        info.extra = struct.pack("<HH", _PAD_ID, padding) + b"\0" * padding
    return info


# -- reading ------------------------------------------------------------------------------------
class Bundle:
    """An opened, verified bundle: its manifest and its members (read on demand)."""

    def __init__(self, path: Path, manifest: dict[str, Any], archive: zipfile.ZipFile) -> None:
        self.path = path
        self.manifest = manifest
        self._archive = archive
        self._map: mmap.mmap | None = None

    @property
    def version(self) -> int:
        return int(self.manifest["format_version"])

    def has(self, name: str) -> bool:
        return name in self.manifest["members"]

    def read(self, name: str) -> bytes:
        """A member's bytes (already verified against the manifest's sha256 at open)."""
        self._require(name)
        try:
            return self._archive.read(name)
        except (zipfile.BadZipFile, zlib.error, OSError) as e:
            raise BundleCorruptError(f"{self.path}: member {name} is damaged ({e})") from None

    def view(self, name: str) -> memoryview:
        """A stored member as a zero-copy view of the mapped file."""
        self._require(name)
        info = self._archive.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED:
            return memoryview(self.read(name))
        if self._map is None:
            with open(self.path, "rb") as file:
                self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        start = _data_start(self._map, info, self.path)
        return memoryview(self._map)[start : start + info.file_size]

    def _require(self, name: str) -> None:
        if not self.has(name):
            raise MissingMemberError(f"{self.path}: the bundle has no member {name}")

    def close(self) -> None:
        """Close the archive; arrays viewing the mapped file keep the mapping alive."""
        self._archive.close()

    def __del__(self) -> None:
        archive = getattr(self, "_archive", None)
        if archive is not None:
            archive.close()

    def __repr__(self) -> str:
        return f"<Bundle {self.path} v{self.version} {sorted(self.manifest['members'])}>"


def _data_start(buffer: Any, info: zipfile.ZipInfo, path: Path) -> int:
    header = bytes(buffer[info.header_offset : info.header_offset + _LOCAL_HEADER.size])
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise BundleCorruptError(f"{path}: member {info.filename} has a damaged local header")
    fields = _LOCAL_HEADER.unpack(header)
    name_length, extra_length = fields[-2], fields[-1]
    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    if start + info.file_size > len(buffer):
        raise BundleCorruptError(f"{path}: member {info.filename} runs past the end of the file")
    return start


def open_bundle(path: str | os.PathLike[str], *, verify: bool = True) -> Bundle:
    """Open a bundle of any known format version; verify every member's sha256."""
    path = Path(path)
    archive = _open_zip(path)
    try:
        manifest = _read_manifest(archive, path)
    except BaseException:
        archive.close()
        raise
    version = manifest.get("format_version")
    if not isinstance(version, int) or manifest.get("format") != FORMAT_NAME:
        archive.close()
        raise BundleCorruptError(
            f"{path}: manifest.json is not a hybrix bundle manifest "
            f"(format {manifest.get('format')!r}, version {version!r})"
        )
    reader = READERS.get(version)
    if reader is None:
        archive.close()
        newest = max(READERS)
        if version > newest:
            raise BundleVersionError(
                f"{path}: bundle format version {version} is newer than this hybrix reads "
                f"({newest}); upgrade hybrix or rebuild the bundle"
            )
        raise BundleVersionError(f"{path}: unknown bundle format version {version}")
    try:
        bundle = reader(path, manifest, archive)
    except BaseException:
        archive.close()
        raise
    if verify:
        verify_members(bundle)
    return bundle


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleError(f"{path}: no such bundle") from None
    except OSError as e:
        raise BundleError(f"{path}: cannot read ({e.strerror})") from None
    except zipfile.BadZipFile as e:
        raise BundleCorruptError(
            f"{path}: not a complete .hxb archive (truncated or not a bundle: {e})"
        ) from None


def _read_manifest(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        data = archive.read(MANIFEST)
    except KeyError:
        raise MissingMemberError(f"{path}: the bundle has no {MANIFEST}") from None
    except (zipfile.BadZipFile, zlib.error, OSError) as e:
        raise BundleCorruptError(f"{path}: {MANIFEST} is damaged ({e})") from None
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleCorruptError(f"{path}: {MANIFEST} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("members"), dict):
        raise BundleCorruptError(f"{path}: {MANIFEST} lacks its table of members")
    return manifest


def verify_members(bundle: Bundle) -> None:
    """Every member the manifest lists is present, of its size, with its sha256."""
    present = set(bundle._archive.namelist())
    for name, facts in bundle.manifest["members"].items():
        if name not in present:
            raise MissingMemberError(
                f"{bundle.path}: member {name} is listed in the manifest but missing"
            )
        data = bundle.view(name)
        if len(data) != facts["size"]:
            raise BundleCorruptError(
                f"{bundle.path}: member {name} has {len(data)} bytes, the manifest says "
                f"{facts['size']}"
            )
        if hashlib.sha256(data).hexdigest() != facts["sha256"]:
            raise BundleCorruptError(
                f"{bundle.path}: member {name} is corrupt (sha256 does not match the manifest)"
            )


def _read_v1(path: Path, manifest: dict[str, Any], archive: zipfile.ZipFile) -> Bundle:
    for key in ("inputs", "outputs", "params", "stablehlo", "executables", "memory_plans"):
        if key not in manifest:
            raise BundleCorruptError(f"{path}: {MANIFEST} (format 1) lacks the {key!r} entry")
    return Bundle(path, manifest, archive)


def _read_v2(path: Path, manifest: dict[str, Any], archive: zipfile.ZipFile) -> Bundle:
    """Format 2 = 1 + an executable may name a `prepare` executable (its parameters packed
    for hybrix's kernels, run once at load): a format-1 reader would call it with the
    parameters as stored."""
    return _read_v1(path, manifest, archive)


# NOTE: one reader per format version, never removed: a later hybrix reads every earlier one.
READERS: dict[int, Callable[[Path, dict[str, Any], zipfile.ZipFile], Bundle]] = {
    1: _read_v1,
    2: _read_v2,
}
