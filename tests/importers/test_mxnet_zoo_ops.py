"""Every op name the MXNet and GluonCV model zoos export maps to a registered hybrix op."""

from __future__ import annotations

import json

import pytest

from hybrix.importers.mxnet._attrs import BACKEND_KEYS, is_dropped_key, parse_attr
from hybrix.ir import get_op
from hybrix.tests.conftest import SHARED

NOTES = [SHARED / "notes" / "zoo_ops.json", SHARED / "notes" / "zoo_ops_gluoncv.json"]
pytestmark = pytest.mark.skipif(not NOTES[0].is_file(), reason="shared notes not found")


def zoo_models():
    for path in NOTES:
        for name, entry in json.loads(path.read_text()).items():
            if "ops" in entry:
                yield name, entry
            else:  # "_client_nets": several small nets
                yield from entry.items()


def test_every_zoo_op_is_registered():
    ops = {op for _, entry in zoo_models() for op in entry["ops"] if op != "null"}
    missing = []
    for op in sorted(ops):
        try:
            get_op(op)
        except KeyError:
            missing.append(op)
    assert not missing
    assert {"_contrib_AdaptiveAvgPooling2D", "_contrib_BilinearResize2D"} <= ops


def test_every_zoo_attribute_value_parses():
    for model, entry in zoo_models():
        for op, attrs in entry.get("attrs", {}).items():
            opdef = get_op(op)
            for key, values in attrs.items():
                if key in BACKEND_KEYS or is_dropped_key(key):
                    continue
                for text in values:
                    parse_attr(opdef, key, text, f"{model}: {op}")
