"""pyproject.toml lists every package, so a non-editable install has the whole of hybrix."""

from __future__ import annotations

import tomllib

from hybrix.tests.conftest import REPO

SKIP = {".venv", "tests", "build", "dist"}


def test_every_package_is_listed():
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for init in REPO.rglob("__init__.py"):
        parts = init.relative_to(REPO).parts[:-1]
        if parts and parts[0] in SKIP:
            continue
        found.add(".".join(("hybrix", *parts)))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
