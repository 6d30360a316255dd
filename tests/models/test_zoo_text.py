"""Sequence models of the zoo: the word-language-model LSTM and the small BERT encoder,
checked against numpy forward passes written from the equations."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix import nd
from hybrix.gluon.block import NameManager
from hybrix.ir import HybrixError
from hybrix.models import get_model
from hybrix.models.text import RNNModel


def _params(net):
    return {k: v.data().asnumpy().astype(np.float64) for k, v in net.collect_params().items()}


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_reference(x, h, c, p, prefix):
    """MXNet's fused LSTM (gates i, f, g, o) over x (T, N, C) for each layer."""
    layers = len(h)
    for layer in range(layers):
        w = {
            k: p[f"{prefix}l{layer}_{k}"]
            for k in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias")
        }
        hs, ht, ct = [], h[layer], c[layer]
        for step in x:
            gates = (
                step @ w["i2h_weight"].T + w["i2h_bias"] + ht @ w["h2h_weight"].T + w["h2h_bias"]
            )
            i, f, g, o = np.split(gates, 4, axis=-1)
            ct = _sigmoid(f) * ct + _sigmoid(i) * np.tanh(g)
            ht = _sigmoid(o) * np.tanh(ct)
            hs.append(ht)
        x = np.stack(hs)
        h[layer], c[layer] = ht, ct
    return x, h, c


def test_lstm_language_model_matches_numpy(rng):
    with NameManager():
        net = get_model("lstm_lm", vocab_size=13, num_embed=6, num_hidden=5, num_layers=2)
    net.initialize()
    tokens = rng.integers(0, 13, (4, 3)).astype(np.float32)  # (T, N)
    hidden = [nd.array(rng.standard_normal((2, 3, 5)).astype(np.float32)) for _ in range(2)]
    scores, (h, c) = net(nd.array(tokens), hidden)
    p = _params(net)
    emb = p["rnnmodel0_embedding0_weight"][tokens.astype(int)]
    states = [s.asnumpy().astype(np.float64) for s in hidden]
    out, h_ref, c_ref = lstm_reference(emb, list(states[0]), list(states[1]), p, "rnnmodel0_lstm0_")
    expected = out.reshape(-1, 5) @ p["rnnmodel0_dense0_weight"].T + p["rnnmodel0_dense0_bias"]
    np.testing.assert_allclose(scores.asnumpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h.asnumpy(), np.stack(h_ref), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c.asnumpy(), np.stack(c_ref), rtol=1e-4, atol=1e-5)
    net.hybridize()
    hybrid_scores, _ = net(nd.array(tokens), hidden)
    np.testing.assert_allclose(hybrid_scores.asnumpy(), scores.asnumpy(), rtol=1e-5, atol=1e-6)


def test_lstm_language_model_ties_decoder_to_embedding():
    with NameManager():
        net = get_model(
            "lstm_lm", vocab_size=7, num_embed=4, num_hidden=4, num_layers=1, tie_weights=True
        )
    net.initialize()
    assert net(nd.zeros((2, 3))).shape == (6, 7)
    assert net.decoder.weight is net.encoder.weight
    names = list(net.collect_params())
    assert names == [
        "rnnmodel0_embedding0_weight",
        "rnnmodel0_lstm0_l0_i2h_weight",
        "rnnmodel0_lstm0_l0_h2h_weight",
        "rnnmodel0_lstm0_l0_i2h_bias",
        "rnnmodel0_lstm0_l0_h2h_bias",
        "rnnmodel0_embedding0_bias",
    ]
    with pytest.raises(HybrixError, match="num_embed == num_hidden"):
        RNNModel("lstm", 7, 4, 5, 1, tie_weights=True)


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _gelu(x):
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def bert_reference(p, tokens, types, valid, heads):
    """GluonNLP's post-norm BERT encoder, one sample at a time."""
    enc, eps = "bertencoder0_", 1e-12
    out = []
    for n in range(tokens.shape[0]):
        x = p["bertmodel0_word_embed_embedding0_weight"][tokens[n]]
        x = x + p["bertmodel0_token_type_embed_embedding0_weight"][types[n]]
        x = x + p[enc + "position_weight"][: x.shape[0]]
        x = _layer_norm(x, p[enc + "layernorm0_gamma"], p[enc + "layernorm0_beta"], eps)
        keys = np.arange(x.shape[0]) < valid[n]
        cell = enc + "transformer0_"

        def dense(v, name, c=cell):
            return v @ p[c + name + "_weight"].T + p[c + name + "_bias"]

        att = cell + "multiheadattentioncell0_"
        q, k, v = (dense(x, name, att) for name in ("query", "key", "value"))
        units = q.shape[-1]
        depth = units // heads
        context = np.zeros_like(q)
        for head in range(heads):
            cols = slice(head * depth, (head + 1) * depth)
            scores = q[:, cols] @ k[:, cols].T / np.sqrt(depth)
            scores = np.where(keys[None, :], scores, -1e18)
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            weights = weights / weights.sum(-1, keepdims=True) * keys[None, :]
            context[:, cols] = weights @ v[:, cols]
        x = _layer_norm(
            dense(context, "proj") + x,
            p[cell + "layernorm0_gamma"],
            p[cell + "layernorm0_beta"],
            eps,
        )
        ffn = cell + "positionwiseffn0_"
        y = dense(_gelu(dense(x, "ffn_1", ffn)), "ffn_2", ffn) + x
        x = _layer_norm(y, p[ffn + "layernorm0_gamma"], p[ffn + "layernorm0_beta"], eps)
        out.append(x * keys[:, None])
    sequence = np.stack(out)
    pooled = np.tanh(sequence[:, 0] @ p["bertmodel0_pooler_weight"].T + p["bertmodel0_pooler_bias"])
    return sequence, pooled


def test_bert_matches_numpy_with_padding(rng):
    with NameManager():
        net = get_model(
            "bert_small",
            vocab_size=11,
            num_layers=1,
            units=8,
            hidden_size=16,
            num_heads=2,
            max_length=12,
        )
    net.initialize()
    tokens = rng.integers(0, 11, (2, 5))
    types = rng.integers(0, 2, (2, 5))
    valid = np.array([3, 5], np.float32)
    inputs = [
        nd.array(tokens.astype(np.float32)),
        nd.array(types.astype(np.float32)),
        nd.array(valid),
    ]
    net(*inputs)  # finishes deferred initialization
    for param in net.collect_params().values():  # away from LayerNorm's (1, 0) and zero biases
        param.set_data(nd.array(rng.standard_normal(param.shape).astype(np.float32) * 0.5))
    sequence, pooled = net(*inputs)
    expected_sequence, expected_pooled = bert_reference(_params(net), tokens, types, valid, 2)
    np.testing.assert_allclose(sequence.asnumpy(), expected_sequence, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(pooled.asnumpy(), expected_pooled, rtol=1e-4, atol=1e-4)
    net.hybridize()
    hybrid_sequence, _ = net(*inputs)
    np.testing.assert_allclose(hybrid_sequence.asnumpy(), sequence.asnumpy(), rtol=1e-5, atol=1e-5)


def test_bert_names_follow_gluonnlp():
    with NameManager():
        net = get_model(
            "bert_small",
            vocab_size=11,
            num_layers=2,
            units=8,
            hidden_size=16,
            num_heads=2,
            max_length=12,
        )
    names = set(net.collect_params())
    assert "bertencoder0_transformer1_multiheadattentioncell0_query_weight" in names
    assert "bertencoder0_transformer1_positionwiseffn0_ffn_2_bias" in names
    assert "bertmodel0_word_embed_embedding0_weight" in names
    structural = set(net._collect_params_with_prefix())
    assert "encoder.transformer_cells.1.attention_cell.proj_query.weight" in structural
    assert "encoder.position_weight" in structural
    assert "word_embed.0.weight" in structural


def test_bert_rejects_sequences_beyond_max_length():
    with NameManager():
        net = get_model(
            "bert_small",
            vocab_size=5,
            num_layers=1,
            units=4,
            hidden_size=8,
            num_heads=2,
            max_length=3,
        )
    net.initialize()
    with pytest.raises(HybrixError, match="exceeds max_length 3"):
        net(nd.zeros((1, 4)))
