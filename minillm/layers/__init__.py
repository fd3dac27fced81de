"""The layer library: every differentiable layer as an explicit forward/backward pair.

    out, cache = x_forward(in1, in2, ..., *, options)
    d_in1, d_in2, ... = x_backward(dout, cache)

One file per concept; see DESIGN.md ("The layer contract") and the README's map.
"""
from minillm.layers.activations import (
    erf, erfc, gelu_backward, gelu_forward, relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
    silu_backward, silu_forward, swiglu_backward, swiglu_forward, tanh_backward, tanh_forward,
)
from minillm.layers.attention import (
    attention_backward, attention_forward, causal_mask, merge_heads, multihead_attention_backward,
    multihead_attention_forward, split_heads,
)
from minillm.layers.block import (
    NUMPY_OPS, block_params, cross_attention_probs, cross_decoder_block_backward, cross_decoder_block_forward,
    decoder_block_backward, decoder_block_forward, encoder_block_backward, encoder_block_forward, named_norm_backward,
    named_norm_forward, residual_backward, residual_forward, self_attention_probs,
)
from minillm.layers.dropout import dropout_backward, dropout_forward
from minillm.layers.embedding import embedding_backward, embedding_forward
from minillm.layers.feedforward import (
    feedforward_backward, feedforward_forward, swiglu_feedforward_backward, swiglu_feedforward_forward,
)
from minillm.layers.linear import linear_backward, linear_forward
from minillm.layers.norm import layernorm_backward, layernorm_forward, rmsnorm_backward, rmsnorm_forward
from minillm.layers.positional import (
    article_positional_encoding, learned_positional_backward, learned_positional_forward, rope_backward,
    rope_angles, rope_forward, sinusoidal_positional_encoding,
)
from minillm.layers.recurrent import (
    gru_backward, gru_forward, gru_step_backward, gru_step_forward, lstm_backward, lstm_cell_states, lstm_forward,
    lstm_step_backward, lstm_step_forward, rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward,
)
from minillm.layers.softmax import (
    cross_entropy_backward, cross_entropy_forward, log_softmax_backward, log_softmax_forward, softmax_backward,
    softmax_forward,
)
