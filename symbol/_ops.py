"""sym.<Op> functions generated from the op registry, MXNet's symbolic calling convention.

`sym.FullyConnected(data, num_hidden=8, name="fc1")`: inputs by position or name, typed
attributes by keyword; inputs left out become variables named `<name>_<input>`
(`fc1_weight`, `fc1_bias`), as MXNet creates them. An optional input is created only
when the attributes ask for it (no bias with `no_bias=True`); the PRNG key of random ops
is the executor's business and never an input.
"""

from __future__ import annotations

from typing import Any

from hybrix.ir import get_op
from hybrix.ir.ops import all_ops
from hybrix.symbol.symbol import Symbol, SymbolError, SymNode, _Names, var

__all__ = ["make_op_function", "op_functions"]

_FUNCTIONS: dict[str, Any] = {}
# Optional inputs created unless this attribute says they are absent.
_SKIP_WHEN = {"bias": "no_bias", "gamma": "act_type", "length": "use_length"}


def make_op_function(name: str) -> Any:
    """The sym function for an op name or alias (cached)."""
    function = _FUNCTIONS.get(name)
    if function is not None:
        return function
    opdef = get_op(name)
    names = opdef.input_names[:-1] if opdef.rng else opdef.input_names
    attr_names = list(opdef.attrs)

    def function(*args: Any, name: str | None = None, attr: Any = None, **kwargs: Any) -> Symbol:
        node_name = _Names.get(name, opdef.name)
        if opdef.variadic:
            inputs = _variadic_inputs(args, kwargs, names[-1])
        else:
            inputs = _fixed_inputs(opdef, names, attr_names, args, kwargs, node_name)
        if "num_args" in opdef.attrs and "num_args" not in kwargs:
            kwargs["num_args"] = len(inputs)
        attrs = opdef.check_attrs(kwargs, f"sym.{name or opdef.name}")
        explicit = {k: attrs[k] for k in kwargs}
        entries = []
        for position, item in enumerate(inputs):
            if not isinstance(item, Symbol) or len(item) != 1:
                raise SymbolError(
                    f"sym.{opdef.name} ({node_name}): input {position} must be a Symbol with "
                    f"one output, got {type(item).__name__}"
                )
            entries.append(item._outputs[0])
        hidden = {k: str(v) for k, v in (attr or {}).items()}
        node = SymNode(opdef.name, node_name, explicit, entries, hidden)
        count = opdef.num_visible_outputs(attrs)
        return Symbol([(node, i) for i in range(count)])

    function.__name__ = name
    function.__qualname__ = name
    function.__doc__ = f"{opdef.doc}\n\nsym.{name}({', '.join(names)}, name=None, **attrs)"
    _FUNCTIONS[name] = function
    return function


def _variadic_inputs(args: tuple, kwargs: dict, input_name: str) -> list[Any]:
    inputs = list(args)
    if len(inputs) == 1 and isinstance(inputs[0], list | tuple):
        inputs = list(inputs[0])
    if input_name in kwargs:
        given = kwargs.pop(input_name)
        inputs.extend(given if isinstance(given, list | tuple) else [given])
    return inputs


def _fixed_inputs(
    opdef: Any, names: list[str], attr_names: list[str], args: tuple, kwargs: dict, node: str
) -> list[Any]:
    given: dict[str, Any] = {}
    extra = []
    for position, item in enumerate(args):
        if position < len(names) and isinstance(item, Symbol):
            given[names[position]] = item
        else:
            extra.append(item)
    for attr_name, value in zip([a for a in attr_names if a not in kwargs], extra, strict=False):
        kwargs[attr_name] = value
    for input_name in names:
        if input_name in kwargs:
            given[input_name] = kwargs.pop(input_name)
    inputs = []
    specs = dict(zip(names, opdef.inputs, strict=False))
    for input_name in names:
        if input_name in given:
            inputs.append(given[input_name])
            continue
        if specs[input_name].endswith("?") and not _wanted(opdef, input_name, kwargs):
            break
        inputs.append(var(f"{node}_{input_name}"))
    return inputs


def _wanted(opdef: Any, input_name: str, kwargs: dict) -> bool:
    """Whether MXNet creates an optional input the call left out."""
    switch = _SKIP_WHEN.get(input_name, "")
    if switch == "act_type":  # LeakyReLU's slope array exists for prelu only
        return kwargs.get("act_type") == "prelu"
    if switch == "no_bias":
        default = opdef.attrs["no_bias"].default if "no_bias" in opdef.attrs else False
        return not kwargs.get("no_bias", default)
    if switch:
        return bool(kwargs.get(switch, False))
    return False


def op_functions() -> dict[str, Any]:
    """Every registered op and alias name -> its sym function."""
    result = {}
    for opdef in all_ops():
        for name in (opdef.name, *opdef.aliases):
            result[name] = make_op_function(name)
    return result
