"""MXNet interchange: -symbol.json + .params in (`load`) and out (`save`, `to_json`)."""

from .symbol import Variable, list_variables, load, read_params
from .export import save, to_json

__all__ = ["Variable", "list_variables", "load", "read_params", "save", "to_json"]
