#!/usr/bin/env python3
"""Run hybrix from a fresh clone with only python3: makes or reuses .venv, then runs.

    python3 scripts/dev.py demo [ARGS]   the main job on built-in defaults (hybrix demo)
    python3 scripts/dev.py test [ARGS]   the whole test suite (pytest ARGS)
    python3 scripts/dev.py hybrix ARGS   any hybrix command

The virtual environment is `.venv` beside pyproject.toml (HYBRIX_VENV overrides); it is
reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ensure_venv() -> Path:
    home = Path(os.environ.get("HYBRIX_VENV", ROOT / ".venv"))
    python = home / "bin" / "python"
    if not python.exists():
        print(f"creating virtual environment {home}", file=sys.stderr)
        venv.create(home, with_pip=True)
    digest = hashlib.sha1((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    stamp = home / f".hybrix-installed-{digest}"
    if not stamp.exists():
        print("installing hybrix and its test dependencies", file=sys.stderr)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
        stamp.touch()
    return home


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "hybrix"}:
        print(__doc__, file=sys.stderr)
        return 2
    home = ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "test":
        workers = [] if any(a.startswith("-n") for a in rest) else ["-n", "auto"]
        args = [str(home / "bin" / "python"), "-m", "pytest", *workers, *rest]
    elif command == "demo":
        args = [str(home / "bin" / "hybrix"), "demo", *rest]
    else:
        args = [str(home / "bin" / "hybrix"), *rest]
    return subprocess.run(args, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
