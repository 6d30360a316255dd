"""Sequence models: MXNet's word-language-model RNN and a small BERT-style encoder.

`RNNModel` is example/gluon/word_language_model/model.py of MXNet 1.9.1: Embedding ->
fused RNN/LSTM/GRU -> Dense decoder, with dropout and optional weight tying (names
`rnnmodel0_embedding0_weight`, `rnnmodel0_lstm0_l0_i2h_weight`, `rnnmodel0_dense0_weight`).

`BERTModel`/`BERTEncoder` follow GluonNLP 0.9's BERT (batch-major, NTC): parameter names
`bertencoder0_transformer0_multiheadattentioncell0_query_weight`,
`bertencoder0_transformer0_positionwiseffn0_ffn_1_weight`, `bertencoder0_position_weight`,
`bertmodel0_word_embed_embedding0_weight`, `bertmodel0_pooler_weight`, ...; structural
names (`encoder.transformer_cells.0.attention_cell.proj_query.weight`) as GluonNLP's
parameter files. GluonNLP's masked-LM decoder and next-sentence classifier are left out.
"""

from __future__ import annotations

import math
from typing import Any

from hybrix.gluon import nn, rnn
from hybrix.gluon.block import HybridBlock
from hybrix.ir import HybrixError

__all__ = ["BERTEncoder", "BERTEncoderCell", "BERTModel", "RNNModel", "bert_small", "lstm_lm"]

_RNN_LAYERS = {"rnn_relu": rnn.RNN, "rnn_tanh": rnn.RNN, "lstm": rnn.LSTM, "gru": rnn.GRU}


class RNNModel(HybridBlock):
    """Embedding -> recurrent layers -> Dense over the vocabulary (inputs (T, N) ids)."""

    def __init__(
        self,
        mode: str,
        vocab_size: int,
        num_embed: int,
        num_hidden: int,
        num_layers: int,
        dropout: float = 0.5,
        tie_weights: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in _RNN_LAYERS:
            raise HybrixError(f"RNNModel: invalid mode {mode!r}; options are {list(_RNN_LAYERS)}")
        if tie_weights and num_embed != num_hidden:
            raise HybrixError(
                f"RNNModel: tie_weights needs num_embed == num_hidden, got {num_embed} and "
                f"{num_hidden} (the decoder reuses the embedding matrix)"
            )
        with self.name_scope():
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(
                vocab_size, num_embed, weight_initializer=_uniform_initializer(0.1)
            )
            layer_kwargs = {"dropout": dropout, "input_size": num_embed}
            if mode.startswith("rnn_"):
                layer_kwargs["activation"] = mode[4:]
            self.rnn = _RNN_LAYERS[mode](num_hidden, num_layers, **layer_kwargs)
            shared = self.encoder.params if tie_weights else None
            self.decoder = nn.Dense(vocab_size, in_units=num_hidden, params=shared)
        self.num_hidden = num_hidden

    def hybrid_forward(self, F: Any, inputs: Any, hidden: Any = None) -> Any:
        """(T, N) token ids [, states] -> (T*N, vocab) scores [, new states].

        MXNet's example always passes `hidden`; without it the RNN starts from zeros and
        only the scores are returned.
        """
        emb = self.drop(self.encoder(inputs))
        if hidden is None:
            output = self.rnn(emb)
        else:
            output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output.reshape((-1, self.num_hidden)))
        return decoded if hidden is None else (decoded, hidden)

    def begin_state(self, *args: Any, **kwargs: Any) -> list:
        return self.rnn.begin_state(*args, **kwargs)


def _uniform_initializer(scale: float) -> Any:
    from hybrix.initializer import Uniform

    return Uniform(scale)


class PositionwiseFFN(HybridBlock):
    """Dense(hidden) -> GELU -> Dense(units) -> dropout, residual, LayerNorm (post-norm)."""

    def __init__(
        self, units: int, hidden_size: int, dropout: float, layer_norm_eps: float, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._dropout = dropout
        with self.name_scope():
            self.ffn_1 = nn.Dense(hidden_size, flatten=False, prefix="ffn_1_")
            self.ffn_2 = nn.Dense(units, flatten=False, prefix="ffn_2_")
            if dropout:
                self.dropout_layer = nn.Dropout(rate=dropout)
            self.layer_norm = nn.LayerNorm(in_channels=units, epsilon=layer_norm_eps)

    def hybrid_forward(self, F: Any, inputs: Any) -> Any:
        outputs = F.LeakyReLU(self.ffn_1(inputs), act_type="gelu")
        outputs = self.ffn_2(outputs)
        if self._dropout:
            outputs = self.dropout_layer(outputs)
        return self.layer_norm(outputs + inputs)


class MultiHeadAttentionCell(HybridBlock):
    """Scaled dot-product self-attention over `num_heads` heads (GluonNLP's names)."""

    def __init__(self, units: int, num_heads: int, dropout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._num_heads = num_heads
        self._scale = 1.0 / math.sqrt(units // num_heads)
        with self.name_scope():
            self.proj_query = nn.Dense(units, flatten=False, prefix="query_")
            self.proj_key = nn.Dense(units, flatten=False, prefix="key_")
            self.proj_value = nn.Dense(units, flatten=False, prefix="value_")
            self.dropout_layer = nn.Dropout(dropout)

    def _heads(self, F: Any, x: Any) -> Any:
        """(N, L, H*D) -> (N*H, L, D)."""
        x = F.reshape(x, shape=(0, 0, self._num_heads, -1))
        return F.reshape(F.transpose(x, axes=(0, 2, 1, 3)), shape=(-3, 0, 0))

    def hybrid_forward(self, F: Any, x: Any, mask: Any = None) -> Any:
        """x (N, L, C); mask (N*H, 1, L) of 1 (attend) / 0 (padding), or None."""
        query = self._heads(F, self.proj_query(x)) * self._scale
        key = self._heads(F, self.proj_key(x))
        value = self._heads(F, self.proj_value(x))
        scores = F.batch_dot(query, key, transpose_b=True)
        if mask is not None:
            # NOTE: GluonNLP's masked softmax: padded keys get -1e18, weights are re-masked
            scores = F.broadcast_add(scores, (mask - 1) * 1e18)
        weights = F.softmax(scores, axis=-1)
        if mask is not None:
            weights = F.broadcast_mul(weights, mask)
        context = F.batch_dot(self.dropout_layer(weights), value)
        context = F.reshape(context, shape=(-4, -1, self._num_heads, 0, 0))
        return F.reshape(F.transpose(context, axes=(0, 2, 1, 3)), shape=(0, 0, -1))


class BERTEncoderCell(HybridBlock):
    """Self-attention, projection, residual + LayerNorm, then the position-wise FFN."""

    def __init__(
        self,
        units: int,
        hidden_size: int,
        num_heads: int,
        dropout: float,
        layer_norm_eps: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._dropout = dropout
        with self.name_scope():
            if dropout:
                self.dropout_layer = nn.Dropout(rate=dropout)
            self.attention_cell = MultiHeadAttentionCell(units, num_heads, dropout)
            self.proj = nn.Dense(units, flatten=False, prefix="proj_")
            self.ffn = PositionwiseFFN(units, hidden_size, dropout, layer_norm_eps)
            self.layer_norm = nn.LayerNorm(in_channels=units, epsilon=layer_norm_eps)

    def hybrid_forward(self, F: Any, inputs: Any, mask: Any = None) -> Any:
        outputs = self.proj(self.attention_cell(inputs, mask))
        if self._dropout:
            outputs = self.dropout_layer(outputs)
        return self.ffn(self.layer_norm(outputs + inputs))


class BERTEncoder(HybridBlock):
    """Learned positions + LayerNorm, then `num_layers` BERTEncoderCells (inputs NTC)."""

    def __init__(
        self,
        num_layers: int = 2,
        units: int = 128,
        hidden_size: int = 512,
        max_length: int = 512,
        num_heads: int = 2,
        dropout: float = 0.0,
        layer_norm_eps: float = 1e-12,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if units % num_heads:
            raise HybrixError(
                f"BERTEncoder: units must be divisible by num_heads, got {units} and {num_heads}"
            )
        self._max_length = max_length
        self._units = units
        self._num_heads = num_heads
        self._dropout = dropout
        with self.name_scope():
            if dropout:
                self.dropout_layer = nn.Dropout(rate=dropout)
            self.layer_norm = nn.LayerNorm(in_channels=units, epsilon=layer_norm_eps)
            self.position_weight = self.params.get("position_weight", shape=(max_length, units))
            self.transformer_cells = nn.HybridSequential()
            for i in range(num_layers):
                self.transformer_cells.add(
                    BERTEncoderCell(
                        units,
                        hidden_size,
                        num_heads,
                        dropout,
                        layer_norm_eps,
                        prefix=f"transformer{i}_",
                    )
                )

    def hybrid_forward(
        self, F: Any, inputs: Any, valid_length: Any = None, position_weight: Any = None
    ) -> Any:
        """inputs (N, L, C) [, valid_length (N,)] -> (N, L, C); padded steps are zeroed."""
        length = inputs.shape[1]
        if length > self._max_length:
            raise HybrixError(
                f"{self.name}: sequence length {length} exceeds max_length {self._max_length}"
            )
        positions = F.slice_axis(position_weight, axis=0, begin=0, end=length)
        outputs = F.broadcast_add(inputs, F.expand_dims(positions, axis=0))
        if self._dropout:
            outputs = self.dropout_layer(outputs)
        outputs = self.layer_norm(outputs)
        mask = None if valid_length is None else self._key_mask(F, valid_length, length)
        for cell in self.transformer_cells:
            outputs = cell(outputs, mask)
        if valid_length is not None:
            steps = F.arange(0, length, dtype=inputs.dtype)
            valid = F.reshape(valid_length.astype(inputs.dtype), shape=(-1, 1))
            keep = F.broadcast_lesser(F.reshape(steps, shape=(1, -1)), valid)
            outputs = F.broadcast_mul(outputs, F.expand_dims(keep, axis=2))
        return outputs

    def _key_mask(self, F: Any, valid_length: Any, length: int) -> Any:
        """(N*H, 1, L): 1 where key position < valid_length of the sample."""
        steps = F.reshape(F.arange(0, length, dtype="float32"), shape=(1, -1))
        valid = F.reshape(valid_length.astype("float32"), shape=(-1, 1))
        mask = F.broadcast_lesser(steps, valid)
        mask = F.repeat(F.expand_dims(mask, axis=1), repeats=self._num_heads, axis=1)
        return F.expand_dims(F.reshape(mask, shape=(-3, 0)), axis=1)


class BERTModel(HybridBlock):
    """Word + token-type embeddings, a BERTEncoder, and the tanh pooler on the first token."""

    def __init__(
        self,
        encoder: BERTEncoder,
        vocab_size: int,
        token_type_vocab_size: int = 2,
        units: int = 128,
        embed_size: int = 128,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._units = units
        self.encoder = encoder
        with self.name_scope():
            self.word_embed = self._embed(vocab_size, embed_size, "word_embed_")
            self.token_type_embed = self._embed(
                token_type_vocab_size, embed_size, "token_type_embed_"
            )
            self.pooler = nn.Dense(units, flatten=False, activation="tanh", prefix="pooler_")

    def _embed(self, vocab_size: int, embed_size: int, prefix: str) -> nn.HybridSequential:
        embed = nn.HybridSequential(prefix=prefix)
        with embed.name_scope():
            embed.add(nn.Embedding(vocab_size, embed_size))
        return embed

    def hybrid_forward(
        self, F: Any, inputs: Any, token_types: Any = None, valid_length: Any = None
    ) -> Any:
        """inputs, token_types (N, L) ids [, valid_length (N,)] -> (sequence, pooled)."""
        embedding = self.word_embed(inputs)
        if token_types is None:
            token_types = F.zeros_like(inputs)
        embedding = embedding + self.token_type_embed(token_types)
        sequence = self.encoder(embedding, valid_length)
        first = F.reshape(F.slice_axis(sequence, axis=1, begin=0, end=1), shape=(-1, self._units))
        return sequence, self.pooler(first)


def bert_small(
    vocab_size: int = 30522,
    num_layers: int = 2,
    units: int = 128,
    hidden_size: int = 512,
    num_heads: int = 2,
    max_length: int = 512,
    dropout: float = 0.1,
    **kwargs: Any,
) -> BERTModel:
    """A small BERT (2 layers, 128 units, 2 heads by default; BERT-base is 12/768/12)."""
    encoder = BERTEncoder(
        num_layers=num_layers,
        units=units,
        hidden_size=hidden_size,
        max_length=max_length,
        num_heads=num_heads,
        dropout=dropout,
    )
    return BERTModel(encoder, vocab_size, units=units, embed_size=units, **kwargs)


def lstm_lm(
    vocab_size: int = 10000,
    num_embed: int = 650,
    num_hidden: int = 650,
    num_layers: int = 2,
    dropout: float = 0.5,
    tie_weights: bool = False,
    **kwargs: Any,
) -> RNNModel:
    """The word language model's LSTM (defaults: its command line's 650/650/2, PTB vocab)."""
    return RNNModel(
        "lstm", vocab_size, num_embed, num_hidden, num_layers, dropout, tie_weights, **kwargs
    )
