import numpy as np

from tests.harness import Case, rng


def r(seed, shape):
    return rng(seed).standard_normal(shape).astype(np.float32)


def bools(seed, shape, p_true=0.7):
    return rng(seed).random(shape) < p_true


# A bool mask whose query row 1 sees no key at all: that row of Y (and of the mode-3 output) is zero.
DEAD_ROW = bools(30, (2, 6))
DEAD_ROW[1] = False

CASES = [
    Case("Attention", [r(1, (2, 3, 5, 8)), r(2, (2, 3, 7, 8)), r(3, (2, 3, 7, 6))], {}, id="4d-mha"),
    Case("Attention", [r(4, (2, 3, 5, 8)), r(5, (2, 3, 7, 8)), r(6, (2, 3, 7, 6))], {"is_causal": 1},
         n_outputs=4, id="4d-causal-cross-qk"),
    # 3-D GQA (6 query heads on 2 KV heads), scale, softcap, float mask.
    Case("Attention", [r(7, (2, 4, 48)), r(8, (2, 6, 16)), r(9, (2, 6, 10)), r(10, (4, 6))],
         {"q_num_heads": 6, "kv_num_heads": 2, "scale": 0.3, "softcap": 2.0, "qk_matmul_output_mode": 1},
         n_outputs=4, id="3d-gqa-softcap-mask"),
    # KV cache: past + new keys, causal from offset past_len, 4-D bool mask, probabilities out.
    Case("Attention", [r(11, (1, 4, 3, 8)), r(12, (1, 2, 3, 8)), r(13, (1, 2, 3, 8)), bools(14, (1, 4, 3, 8)),
                       r(15, (1, 2, 5, 8)), r(16, (1, 2, 5, 8))],
         {"is_causal": 1, "qk_matmul_output_mode": 3}, n_outputs=4, id="past-present-boolmask-mode3"),
    # Mode 2 (QK + bias) with a finite float mask and past cache on 3-D inputs.
    Case("Attention", [r(17, (2, 3, 16)), r(18, (2, 2, 16)), r(19, (2, 2, 16)), r(20, (2, 1, 3, 6)),
                       r(21, (2, 2, 4, 8)), r(22, (2, 2, 4, 8))],
         {"q_num_heads": 2, "kv_num_heads": 2, "qk_matmul_output_mode": 2}, n_outputs=4, id="3d-past-mode2"),
    # External cache: nonpad_kv_seqlen per batch, causal bottom-right, a left window of 2 keys.
    Case("Attention", [r(23, (2, 4, 3, 8)), r(24, (2, 2, 8, 8)), r(25, (2, 2, 8, 8)), None, None, None,
                       np.array([5, 8], np.int64)], {"is_causal": 1, "left_window_size": 2}, id="nonpad-window-gqa"),
    Case("Attention", [r(26, (1, 2, 5, 4)), r(27, (1, 2, 5, 4)), r(28, (1, 2, 5, 4))],
         {"left_window_size": 1, "right_window_size": 2, "softmax_precision": 11}, id="bidirectional-window-f64"),
    Case("Attention", [r(29, (1, 2, 2, 8)), r(31, (1, 2, 6, 8)), r(32, (1, 2, 6, 8)), DEAD_ROW],
         {"qk_matmul_output_mode": 3}, n_outputs=4, id="fully-masked-row"),
    Case("RotaryEmbedding", [r(33, (2, 4, 3, 8)), r(34, (20, 4)), r(35, (20, 4)),
                             np.array([[0, 5, 19], [3, 3, 1]], np.int64)], {}, id="4d-position-ids"),
    Case("RotaryEmbedding", [r(36, (2, 3, 32)), r(37, (2, 3, 2)), r(38, (2, 3, 2))],
         {"num_heads": 4, "interleaved": 1, "rotary_embedding_dim": 4}, id="3d-interleaved-partial-no-ids"),
    Case("RotaryEmbedding", [r(39, (1, 2, 5, 6)), r(40, (9, 2)), r(41, (9, 2)), np.array([[8, 0, 1, 2, 7]])],
         {"rotary_embedding_dim": 4}, id="partial-halves"),
]
