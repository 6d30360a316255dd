"""gluon.Parameter / Constant / ParameterDict: MXNet's API, deferred init, save/load."""

from __future__ import annotations

import numpy as np
import pytest

import hybrix as mx
from hybrix import gluon, init, nd
from hybrix.gluon.parameter import DeferredInitializationError, ParameterError


def test_parameter_initialize_data_and_grad():
    param = gluon.Parameter("fc_weight", shape=(3, 4), init=init.One())
    param.initialize()
    assert param.data().shape == (3, 4)
    assert (param.data().asnumpy() == 1).all()
    assert param.list_ctx() == [mx.cpu()]
    assert param.grad().shape == (3, 4)
    assert (param.grad().asnumpy() == 0).all()
    assert len(param.list_data()) == 1
    assert len(param.list_grad()) == 1
    assert repr(param) == "Parameter fc_weight (shape=(3, 4), dtype=<class 'numpy.float32'>)"
    with pytest.warns(UserWarning, match="already initialized"):
        param.initialize()


def test_uninitialized_and_deferred_errors():
    param = gluon.Parameter("w", shape=(3, 0), allow_deferred_init=True)
    with pytest.raises(ParameterError, match="has not been initialized"):
        param.data()
    param.initialize()
    with pytest.raises(DeferredInitializationError, match="deferred"):
        param.data()
    param.shape = (3, 5)
    param._finish_deferred_init()
    assert param.data().shape == (3, 5)
    with pytest.raises(ParameterError, match="invalid shape"):
        gluon.Parameter("v", shape=(0,)).initialize()


def test_shape_setter_only_fills_unknown_dims():
    param = gluon.Parameter("w", shape=(3, 0))
    param.shape = (3, 7)
    with pytest.raises(ParameterError, match="incompatible"):
        param.shape = (4, 7)


def test_grad_req_null_and_zero_grad():
    param = gluon.Parameter("w", shape=(2,), init=init.One())
    param.initialize()
    param.grad()._data = param.grad()._data + 3
    param.zero_grad()
    assert (param.grad().asnumpy() == 0).all()
    param.grad_req = "null"
    with pytest.raises(ParameterError, match="grad_req='null'"):
        param.grad()
    with pytest.raises(ParameterError, match="grad_req must be"):
        param.grad_req = "sometimes"


def test_set_data_cast_and_reset_ctx():
    param = gluon.Parameter("w", shape=(2, 2), init=init.Zero())
    param.initialize()
    param.set_data(nd.ones((2, 2)) * 5)
    assert (param.data().asnumpy() == 5).all()
    param.cast("float64")
    assert param.data().dtype == np.float64
    assert param.grad().dtype == np.float64
    param.reset_ctx(mx.cpu(0))
    assert (param.data().asnumpy() == 5).all()


def test_constant_has_no_gradient():
    const = gluon.Constant("c", [[1.0, 2.0]])
    const.initialize()
    assert const.data().asnumpy().tolist() == [[1.0, 2.0]]
    assert const.grad_req == "null"
    with pytest.warns(UserWarning, match="does not support"):
        const.grad_req = "write"


def test_parameter_dict_get_shares_and_merges_shapes():
    params = gluon.ParameterDict("net_")
    weight = params.get("weight", shape=(3, 0))
    assert weight.name == "net_weight"
    assert params.get("weight", shape=(3, 4)) is weight
    assert weight.shape == (3, 4)
    with pytest.raises(ParameterError, match="'shape'"):
        params.get("weight", shape=(5, 4))
    shared = gluon.ParameterDict("net_", shared=params)
    assert shared.get("weight") is weight
    other = gluon.ParameterDict("net_")
    other.get("weight")
    with pytest.raises(ParameterError, match="different Parameters"):
        params.update(other)
    params.setattr("lr_mult", 0.5)
    assert weight.lr_mult == 0.5
    assert "net_weight" in params
    assert list(params.keys()) == ["net_weight"]


def test_parameter_dict_save_load_roundtrip(tmp_path):
    params = gluon.ParameterDict("m_")
    params.get("weight", shape=(2, 3))
    params.get("bias", shape=(2,))
    params.initialize(init.Uniform(1.0))
    path = str(tmp_path / "m.params")
    params.save(path, strip_prefix="m_")
    assert sorted(nd.load(path)) == ["bias", "weight"]
    fresh = gluon.ParameterDict("m_")
    fresh.get("weight", shape=(2, 0), allow_deferred_init=True)
    fresh.get("bias", shape=(2,))
    fresh.load(path, restore_prefix="m_")
    for name in params:
        np.testing.assert_array_equal(fresh[name].data().asnumpy(), params[name].data().asnumpy())
    assert fresh["m_weight"].shape == (2, 3)


def test_load_errors_list_every_missing_and_extra_name(tmp_path):
    path = str(tmp_path / "x.params")
    nd.save(path, {"arg:a_weight": nd.ones((1,)), "aux:b_weight": nd.ones((1,))})
    params = gluon.ParameterDict()
    for name in ("a_weight", "c_weight", "d_weight"):
        params.get(name, shape=(1,))
    with pytest.raises(ParameterError) as error:
        params.load(path)
    message = str(error.value)
    assert "'c_weight', 'd_weight'" in message
    assert "'b_weight'" in message
    params.load(path, allow_missing=True, ignore_extra=True)
    assert params["a_weight"].data().asnumpy().tolist() == [1.0]


def test_load_checks_shape_and_dtype(tmp_path):
    path = str(tmp_path / "y.params")
    nd.save(path, {"w": nd.ones((2, 2), dtype="float64")})
    params = gluon.ParameterDict()
    params.get("w", shape=(2, 2))
    with pytest.raises(ParameterError, match="dtype incompatible"):
        params.load(path)
    params.load(path, cast_dtype=True)
    assert params["w"].data().dtype == np.float32
    params = gluon.ParameterDict()
    params.get("w", shape=(3, 2))
    with pytest.raises(ParameterError, match="shape incompatible"):
        params.load(path, cast_dtype=True)
