"""Damaged or foreign bundles give an error naming the problem; writes are all-or-nothing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hybrix import runtime
from hybrix.compiler.bundle import build_bundle
from hybrix.runtime import (
    BundleCorruptError,
    BundleError,
    BundleVersionError,
    MissingMemberError,
    PlatformMismatchError,
)
from hybrix.tests.runtime.conftest import mlp_graph


def _rewrite(source: Path, target: Path, drop: str = "", edit=None) -> Path:
    """Copy a bundle member by member, leaving one out or editing the manifest."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename == drop:
                continue
            data = old.read(info.filename)
            if info.filename == "manifest.json" and edit is not None:
                manifest = json.loads(data)
                edit(manifest)
                data = json.dumps(manifest).encode()
            new.writestr(info, data)
    return target


def test_truncated_bundle(mlp_bundle, tmp_path):
    data = mlp_bundle["path"].read_bytes()
    path = tmp_path / "short.hxb"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleCorruptError, match=r"short.hxb: not a complete .hxb archive"):
        runtime.load(path)


def test_flipped_byte_in_params(mlp_bundle, tmp_path):
    data = bytearray(mlp_bundle["path"].read_bytes())
    with zipfile.ZipFile(mlp_bundle["path"]) as archive:
        info = archive.getinfo("params.bin")
    data[info.header_offset + 200] ^= 0x01  # inside params.bin's data
    path = tmp_path / "flipped.hxb"
    path.write_bytes(bytes(data))
    with pytest.raises(BundleCorruptError, match=r"member params.bin is corrupt .sha256"):
        runtime.load(path)


@pytest.mark.parametrize("member", ["model.hxir", "params.bin"])
def test_missing_member(mlp_bundle, tmp_path, member):
    path = _rewrite(mlp_bundle["path"], tmp_path / "missing.hxb", drop=member)
    with pytest.raises(MissingMemberError, match=f"member {member} is listed .* but missing"):
        runtime.load(path)


def test_missing_manifest(mlp_bundle, tmp_path):
    path = _rewrite(mlp_bundle["path"], tmp_path / "bare.hxb", drop="manifest.json")
    with pytest.raises(MissingMemberError, match=r"has no manifest.json"):
        runtime.load(path)


def test_future_format_version(mlp_bundle, tmp_path):
    path = _rewrite(
        mlp_bundle["path"], tmp_path / "future.hxb", edit=lambda m: m.update(format_version=99)
    )
    with pytest.raises(BundleVersionError, match="version 99 is newer than this hybrix reads"):
        runtime.load(path)


def test_format_1_bundles_still_run(mlp_bundle, tmp_path):
    """Format 2 only adds executables' optional `prepare`: a format-1 bundle reads and runs."""
    path = _rewrite(
        mlp_bundle["path"], tmp_path / "v1.hxb", edit=lambda m: m.update(format_version=1)
    )
    session = runtime.load(path)
    assert session.bundle.manifest["format_version"] == 1
    (out,) = session.run([mlp_bundle["data"]])
    np.testing.assert_allclose(out, mlp_bundle["expected"], rtol=1e-5, atol=1e-5)


def test_not_a_bundle(tmp_path):
    (tmp_path / "notes.hxb").write_text("hello")
    with pytest.raises(BundleCorruptError, match=r"not a complete .hxb archive"):
        runtime.load(tmp_path / "notes.hxb")
    with pytest.raises(BundleError, match="no such bundle"):
        runtime.load(tmp_path / "absent.hxb")


def test_bundle_for_another_platform(tmp_path):
    path = tmp_path / "gpu.hxb"
    build_bundle(mlp_graph(), None, path, targets=("gpu",), bindings=[{"N": 2}])
    manifest = runtime.open_bundle(path).manifest
    assert [e["platform"] for e in manifest["stablehlo"]] == ["cuda"]
    assert manifest["executables"] == []
    with pytest.raises(PlatformMismatchError, match=r"no StableHLO for this machine \(cpu\)"):
        runtime.load(path, executor="xla")
    session = runtime.load(path)  # auto: the numpy reference executor still runs it
    session.run([np.zeros((2, 784), np.float32)])
    assert session.last_executor == "reference"


def test_executable_from_another_jaxlib_is_not_used(mlp_bundle, tmp_path):
    def other_jaxlib(manifest):
        for entry in manifest["executables"]:
            entry["jaxlib"] = "0.0.1"

    path = _rewrite(mlp_bundle["path"], tmp_path / "old.hxb", edit=other_jaxlib)
    with pytest.raises(PlatformMismatchError, match=r"the bundle has: cpu jaxlib 0.0.1"):
        runtime.load(path, executor="precompiled").run([mlp_bundle["data"]])
    session = runtime.load(path)
    (output,) = session.run([mlp_bundle["data"]])
    assert session.last_executor == "stablehlo"
    np.testing.assert_allclose(output, mlp_bundle["expected"], rtol=1e-5, atol=1e-5)


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    original = zipfile.ZipFile.writestr

    def interrupt(self, info, data, *args, **kwargs):
        name = info.filename if isinstance(info, zipfile.ZipInfo) else info
        if name == "params.bin":
            raise KeyboardInterrupt
        return original(self, info, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_bundle(mlp_graph(), None, tmp_path / "mlp.hxb", precompile=False)
    assert list(tmp_path.iterdir()) == []


def test_rebuild_replaces_atomically(mlp_bundle, tmp_path, monkeypatch):
    path = tmp_path / "mlp.hxb"
    path.write_bytes(mlp_bundle["path"].read_bytes())
    monkeypatch.setattr(
        zipfile.ZipFile, "writestr", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))
    )
    with pytest.raises(OSError, match="disk full"):
        build_bundle(mlp_graph(), None, path, precompile=False)
    assert path.read_bytes() == mlp_bundle["path"].read_bytes()  # the old bundle is intact
    assert [p.name for p in tmp_path.iterdir()] == ["mlp.hxb"]
