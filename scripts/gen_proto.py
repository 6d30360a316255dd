"""Regenerate ir/_proto/hybrix_pb2.py (and its .pyi) from ir/hybrix.proto with grpc_tools' protoc.

The generated module refuses to import under a protobuf runtime older than the protoc that
wrote it, so it must come from a protoc no newer than pyproject's protobuf pin (6.31):
grpcio-tools 1.73.1 bundles protoc 31.0. Without it installed in the environment:

    pip install --no-deps --target /tmp/grpc-tools-1.73.1 grpcio-tools==1.73.1
    PYTHONPATH=/tmp/grpc-tools-1.73.1 .venv/bin/python scripts/gen_proto.py

`--check` regenerates into a temporary folder and fails when the committed file differs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROTO = REPO / "ir" / "hybrix.proto"
TARGET = REPO / "ir" / "_proto" / "hybrix_pb2.py"
STUB = TARGET.with_suffix(".pyi")
# The oldest protobuf runtime pyproject admits; the generated code must not need a newer one.
MIN_RUNTIME = (6, 31, 0)


def generate(out_dir: Path) -> Path:
    """Run protoc on a copy of the proto placed where the generated module lives."""
    source_root = out_dir / "src"
    (source_root / "hybrix" / "ir" / "_proto").mkdir(parents=True)
    shutil.copy(PROTO, source_root / "hybrix" / "ir" / "_proto" / "hybrix.proto")
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{source_root}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        "hybrix/ir/_proto/hybrix.proto",
    ]
    subprocess.run(command, check=True)
    return out_dir / "hybrix" / "ir" / "_proto" / "hybrix_pb2.py"


def gencode_version(path: Path) -> tuple[int, ...]:
    match = re.search(r"Protobuf Python Version: (\d+)\.(\d+)\.(\d+)", path.read_text())
    if match is None:
        raise SystemExit(f"{path}: no 'Protobuf Python Version' line; is this protoc output?")
    return tuple(int(part) for part in match.groups())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed file differs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generated = generate(Path(tmp))
        version = gencode_version(generated)
        if version > MIN_RUNTIME:
            shown = ".".join(map(str, version))
            wanted = ".".join(map(str, MIN_RUNTIME))
            print(
                f"protoc wrote gencode {shown}, which needs protobuf>={shown}; the pin is "
                f"protobuf>={wanted}. Use grpcio-tools==1.73.1 (see this script's docstring).",
                file=sys.stderr,
            )
            return 1
        outputs = {TARGET: generated.read_text(), STUB: generated.with_suffix(".pyi").read_text()}
        if args.check:
            stale = [p for p, text in outputs.items() if not p.exists() or p.read_text() != text]
            for path in stale:
                print(f"{path.relative_to(REPO)} is STALE; run scripts/gen_proto.py")
            return 1 if stale else 0
        for path, text in outputs.items():
            path.write_text(text)
    print(f"wrote {TARGET.relative_to(REPO)} and .pyi (gencode {'.'.join(map(str, version))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
