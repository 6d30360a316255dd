"""KVStore API against MXNet 1.9's semantics: init/push/pull/pushpull/broadcast with
single keys, lists of keys, string keys and several values per key, the optimizer on the
store, its states, and the errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hybrix as mx
from hybrix import kv, nd, optimizer
from hybrix.kvstore import KVStoreError

SHAPE = (2, 3)


@pytest.fixture(params=["local", "device"])
def store(request):
    return kv.create(request.param)


def _pull(store, key):
    out = nd.zeros(SHAPE)
    store.pull(key, out=out)
    return out.asnumpy()


def test_identity():
    store = kv.create("device")
    assert (store.type, store.rank, store.num_workers) == ("device", 0, 1)
    assert mx.kvstore.create("local_allreduce_device").type == "local_allreduce_device"
    assert store.is_capable("optimizer")


def test_init_pull_and_list_of_string_keys(store):
    store.init("3", nd.ones(SHAPE) * 2)
    np.testing.assert_array_equal(_pull(store, "3"), np.full(SHAPE, 2.0))
    keys = ["5", "7", "9"]
    store.init(keys, [nd.ones(SHAPE) * i for i in range(3)])
    outs = [nd.zeros(SHAPE) for _ in keys]
    store.pull(keys, out=outs)
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out.asnumpy(), np.full(SHAPE, float(i)))


def test_push_sums_values_and_replaces_without_updater(store):
    store.init(3, nd.ones(SHAPE))
    store.push(3, [nd.ones(SHAPE) * 2, nd.ones(SHAPE) * 3], priority=-7)  # priority ignored
    np.testing.assert_array_equal(_pull(store, 3), np.full(SHAPE, 5.0))
    store.push([3, 3], [nd.ones(SHAPE), nd.ones(SHAPE)])  # a repeated key is grouped
    np.testing.assert_array_equal(_pull(store, 3), np.full(SHAPE, 2.0))


def test_pull_into_several_outputs_and_pushpull(store):
    store.init(4, nd.zeros(SHAPE))
    values = [nd.ones(SHAPE) * 2, nd.ones(SHAPE) * 4]
    store.pushpull(4, values)  # no out: written back into the values
    for value in values:
        np.testing.assert_array_equal(value.asnumpy(), np.full(SHAPE, 6.0))
    keys = [10, 11]
    store.init(keys, [nd.zeros(SHAPE), nd.zeros((4,))])
    outs = [[nd.zeros(SHAPE), nd.zeros(SHAPE)], nd.zeros((4,))]
    store.pushpull(keys, [[nd.ones(SHAPE), nd.ones(SHAPE)], nd.ones((4,)) * 3], out=outs)
    np.testing.assert_array_equal(outs[0][1].asnumpy(), np.full(SHAPE, 2.0))
    np.testing.assert_array_equal(outs[1].asnumpy(), np.full((4,), 3.0))


def test_broadcast(store):
    a = nd.zeros(SHAPE)
    store.broadcast("b", nd.ones(SHAPE) * 2, out=a)
    np.testing.assert_array_equal(a.asnumpy(), np.full(SHAPE, 2.0))


def test_optimizer_on_the_store_runs_once_per_push(store):
    # MXNet's docstring example: SGD(lr 0.01) on weight 0 with gradient 1 gives -0.01
    store.init(3, nd.zeros(SHAPE))
    store.set_optimizer(optimizer.SGD(learning_rate=0.01))
    store.push(3, nd.ones(SHAPE))
    np.testing.assert_allclose(_pull(store, 3), np.full(SHAPE, -0.01), rtol=1e-6)
    store.push(3, [nd.ones(SHAPE), nd.ones(SHAPE)])  # summed, then one update
    np.testing.assert_allclose(_pull(store, 3), np.full(SHAPE, -0.03), rtol=1e-6)


def test_momentum_matches_numpy_and_states_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=SHAPE) for _ in range(4)]
    store = kv.create("local")
    store.init(["w"], [nd.array(np.ones(SHAPE))])
    store.set_optimizer(optimizer.SGD(learning_rate=0.1, momentum=0.9, wd=0.01))
    weight, mom = np.ones(SHAPE), np.zeros(SHAPE)
    for grad in grads[:2]:
        store.push("w", nd.array(grad))
        mom = 0.9 * mom - 0.1 * (grad + 0.01 * weight)
        weight = weight + mom
    path = str(tmp_path / "kv.states")
    store.save_optimizer_states(path, dump_optimizer=True)
    restored = kv.create("local")
    restored.init("w", nd.array(_pull_named(store, "w")))
    restored.set_optimizer(optimizer.SGD(learning_rate=5.0))
    restored.load_optimizer_states(path)
    for grad in grads[2:]:
        for each in (store, restored):
            each.push("w", nd.array(grad))
        mom = 0.9 * mom - 0.1 * (grad + 0.01 * weight)
        weight = weight + mom
    for each in (store, restored):
        np.testing.assert_allclose(_pull_named(each, "w"), weight, rtol=1e-5, atol=1e-6)


def _pull_named(store, key):
    out = nd.zeros(SHAPE)
    store.pull(key, out=out)
    return out.asnumpy()


def test_custom_updater():
    store = kv.create("local")
    store.init(3, nd.ones(SHAPE) * 4)
    seen = []

    def update(key, value, stored):
        seen.append(key)
        stored += value * 2

    store._set_updater(update)
    store.push(3, nd.ones(SHAPE))
    assert seen == [3]
    np.testing.assert_array_equal(_pull(store, 3), np.full(SHAPE, 6.0))


def test_errors():
    store = kv.create("device")
    with pytest.raises(KVStoreError, match="has not been initialized"):
        store.push(1, nd.ones(SHAPE))
    store.init(1, nd.ones(SHAPE))
    with pytest.raises(KVStoreError, match="duplicate init of key 1"):
        store.init(1, nd.ones(SHAPE))
    with pytest.raises(KVStoreError, match=r"shape \(3,\) does not match the stored shape"):
        store.push(1, nd.ones((3,)))
    with pytest.raises(KVStoreError, match="2 keys need a list of 2"):
        store.push([1, 2], [nd.ones(SHAPE)])
    with pytest.raises(KVStoreError, match="inconsistent types of keys"):
        store.push([1, "2"], [nd.ones(SHAPE), nd.ones(SHAPE)])
    with pytest.raises(KVStoreError, match="must be an int or a str"):
        store.push(1.5, nd.ones(SHAPE))
    with pytest.raises(KVStoreError, match="pull needs `out`"):
        store.pull(1)
    with pytest.raises(KVStoreError, match="gradient compression is not supported"):
        store.set_gradient_compression({"type": "2bit"})
    with pytest.raises(KVStoreError, match="no optimizer on this KVStore"):
        store.save_optimizer_states("never-written")
    with pytest.raises(KVStoreError, match="needs a parameter server"):
        kv.create("dist_async")
    with pytest.raises(KVStoreError, match="unknown KVStore type 'gpu'"):
        kv.create("gpu")


def test_dist_without_launcher_is_one_worker():
    with pytest.warns(UserWarning, match="running as the only worker"):
        store = kv.create("dist_sync")
    assert (store.rank, store.num_workers) == (0, 1)
    store.init(0, nd.ones(SHAPE))
    store.pushpull(0, nd.ones(SHAPE) * 3)
    np.testing.assert_array_equal(_pull(store, 0), np.full(SHAPE, 3.0))
    store.barrier()


def test_device_store_reduces_across_four_devices():
    """The 'device' all-reduce is one XLA program over the devices; results stay put."""
    script = textwrap.dedent(
        """
        import numpy as np
        import hybrix as mx
        from hybrix import kv, nd, optimizer
        from hybrix.kvstore import _reduce

        ctxs = [mx.cpu(i) for i in range(4)]
        store = kv.create("device")
        store.init(["a", "b"], [nd.zeros((2, 3), ctx=ctxs[1]), nd.zeros((), ctx=ctxs[0])])
        values = [nd.array(np.full((2, 3), i + 1.0), ctx=c) for i, c in enumerate(ctxs)]
        scalars = [nd.array(np.array(2.0), ctx=c) for c in ctxs]
        before = _reduce._program.cache_info().misses
        store.pushpull(["a", "b"], [values, scalars])
        assert _reduce._program.cache_info().misses == before + 1  # one program, both keys
        for value, ctx in zip(values, ctxs):
            assert value.context == ctx and value._data.devices() == {ctx.device}
            np.testing.assert_array_equal(value.asnumpy(), np.full((2, 3), 10.0))
        outs = [nd.zeros(()) for _ in ctxs]
        store.pull("b", out=outs)
        assert [float(o.asscalar()) for o in outs] == [8.0] * 4
        store.set_optimizer(optimizer.SGD(learning_rate=0.5))
        outs = [nd.zeros((2, 3), ctx=c) for c in ctxs]
        store.pushpull("a", [nd.array(np.ones((2, 3)), ctx=c) for c in ctxs], out=outs)
        for out, ctx in zip(outs, ctxs):
            assert out._data.devices() == {ctx.device}
            np.testing.assert_allclose(out.asnumpy(), np.full((2, 3), 10.0 - 0.5 * 4))
        print("OK")
        """
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout
