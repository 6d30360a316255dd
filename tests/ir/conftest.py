"""Fixtures of the IR tests."""

from __future__ import annotations

import pytest

from hybrix.ir import get_op
from hybrix.ir.ops import Attr


@pytest.fixture
def graph_attr_op(monkeypatch) -> str:
    """An op taking a nested graph: `identity` given an optional `body` graph attribute.

    NOTE: no registered op takes a graph yet (control flow has not landed), and tests must
    not register ops, so this borrows identity's schema for the duration of one test.
    """
    monkeypatch.setitem(get_op("identity").attrs, "body", Attr.graph(None))
    return "identity"
