"""Samples for the array-creation ops (ir/ops/creation.py): no inputs, everything in attrs."""

from hybrix.tests.ops.sample import Sample


def _create(op, name, **attrs):
    """A creation op call; it has no array inputs, so one dtype run and no gradient."""
    return Sample(op, [], attrs, dtypes=("float32",), grad=False, name=name)


SAMPLES = [
    _create("_zeros", "zeros", shape=(2, 3)),
    _create("zeros", "zeros_unknown_dim", shape=(1, 0, 32)),  # as in lstm-symbol.json
    _create("_zeros", "zeros_int32_scalar", shape=(), dtype="int32"),
    _create("_ones", "ones", shape=(3,)),
    _create("ones", "ones_float16", shape=(2, 1, 2), dtype="float16"),
    _create("_full", "full", shape=(2, 2), value=2.5),
    _create("full", "full_int64_truncates", shape=(3,), value=-2.7, dtype="int64"),
    _create("_full", "full_float64_empty", shape=(0, 2), value=1.0, dtype="float64"),
    _create("_arange", "arange", start=0.0, stop=5.0),
    _create("arange", "arange_no_stop", start=4.0),
    _create("_arange", "arange_negative_step", start=3.0, stop=-2.0, step=-1.5),
    _create(
        "_arange", "arange_repeat_float64", start=1.0, stop=2.0, step=0.3, repeat=2, dtype="float64"
    ),
    _create("_arange", "arange_int32", start=0.5, stop=7.0, step=2.0, dtype="int32"),
    _create("_arange", "arange_float16", start=-1.0, stop=1.0, step=0.25, dtype="float16"),
    _create("_eye", "eye", N=3),
    _create("eye", "eye_rect_upper", N=3, M=4, k=1, dtype="float64"),
    _create("_eye", "eye_lower_int32", N=4, M=2, k=-1, dtype="int32"),
    _create("_linspace", "linspace", start=0.0, stop=1.0, num=5),
    _create(
        "linspace",
        "linspace_no_endpoint",
        start=-2.0,
        stop=2.0,
        num=4,
        endpoint=False,
        dtype="float64",
    ),
    _create("_linspace", "linspace_single", start=3.0, stop=5.0, num=1),
    _create("_linspace", "linspace_int32", start=0.0, stop=10.0, num=4, dtype="int32"),
]
