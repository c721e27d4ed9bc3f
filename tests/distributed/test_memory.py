"""Tests for snippets/distributed/memory.py against numbers worked out by hand and the
figures printed in the ZeRO and Megatron activation-recomputation papers."""
import math

import pytest

from snippets import load

mem = load("distributed/memory")


def test_sixteen_bytes_per_parameter():
    m = mem.model_state_bytes(7e9)
    # 2 (bf16 weights) + 2 (bf16 grads) + 12 (fp32 master, m, v) = 16 B/param -> 112 GB
    assert m["weights"] == 14e9 and m["grads"] == 14e9 and m["optimizer"] == 84e9
    assert m["total"] == 112e9


def test_zero_stages_match_the_zero_paper_example():
    # Rajbhandari et al. (2020), Fig. 1: 7.5B params, 64 GPUs, K = 12
    # baseline 120 GB, ZeRO-1 (P_os) 31.4 GB, ZeRO-2 (P_os+g) 16.6 GB, ZeRO-3 (P_os+g+p) 1.9 GB
    gb = [mem.model_state_bytes(7.5e9, 64, s)["total"] / 1e9 for s in range(4)]
    assert math.isclose(gb[0], 120.0)
    assert round(gb[1], 1) == 31.4
    assert round(gb[2], 1) == 16.6
    assert round(gb[3], 1) == 1.9
    # by formula: (2 + 2 + 12/N), (2 + 14/N), 16/N bytes per parameter
    assert math.isclose(gb[1], 7.5 * (4 + 12 / 64))
    assert math.isclose(gb[3], 7.5 * 16 / 64)


def test_activation_formula_by_hand():
    s, b, h, a = 2048, 1, 4096, 32
    # no parallelism: sbh(34 + 5as/h) = 2048*4096*(34 + 5*32*2048/4096) = 2048*4096*114 bytes
    assert mem.activation_bytes_per_layer(s, b, h, a) == 2048 * 4096 * 114
    # selective recompute drops 5as/h -> 34 sbh; full recompute keeps 2 sbh
    assert mem.activation_bytes_per_layer(s, b, h, a, recompute="selective") == 2048 * 4096 * 34
    assert mem.activation_bytes_per_layer(s, b, h, a, recompute="full") == 2048 * 4096 * 2
    # TP=8 without SP: sbh(10 + 24/8 + 80/8) = 23 sbh; with SP everything is divided: 114/8 sbh
    assert mem.activation_bytes_per_layer(s, b, h, a, tp=8) == 2048 * 4096 * 23
    assert mem.activation_bytes_per_layer(s, b, h, a, tp=8, sequence_parallel=True) == 2048 * 4096 * 114 / 8
    # tp = 1 with and without SP must agree
    assert mem.activation_bytes_per_layer(s, b, h, a, tp=1, sequence_parallel=True) == \
        mem.activation_bytes_per_layer(s, b, h, a)


def test_activations_grow_linearly_in_batch_and_superlinearly_in_seq():
    one = mem.activation_bytes_per_layer(1024, 1, 4096, 32)
    assert mem.activation_bytes_per_layer(1024, 8, 4096, 32) == 8 * one
    assert mem.activation_bytes_per_layer(2048, 1, 4096, 32) > 2 * one   # the 5as/h term


def test_inference_weights():
    assert mem.inference_weight_bytes(7e9) == 14e9
    assert mem.inference_weight_bytes(70e9, 4) == 35e9


def test_each_zero_stage_shards_its_own_state():
    # unequal bytes per component (fp32 weights 4, fp16 grads 2, optimizer 12) and N = 4, so each
    # component is identifiable: stage 1 divides the optimizer, 2 also the grads, 3 also the weights
    n, N = 1e9, 4
    expect = [(4e9, 2e9, 12e9), (4e9, 2e9, 3e9), (4e9, 0.5e9, 3e9), (1e9, 0.5e9, 3e9)]
    for stage, (w, g, o) in enumerate(expect):
        m = mem.model_state_bytes(n, N, stage, weight_bytes=4, grad_bytes=2, optim_bytes=12)
        assert (m["weights"], m["grads"], m["optimizer"]) == (w, g, o), stage
        assert m["total"] == w + g + o


def test_defaults_are_one_gpu_and_no_zero():
    # one GPU holds everything whatever the stage; several GPUs without ZeRO (plain DDP) replicate it
    for stage in range(4):
        assert mem.model_state_bytes(7e9, zero_stage=stage)["total"] == 112e9
    assert mem.model_state_bytes(7e9, n_gpus=8)["total"] == 112e9


def test_recompute_under_tensor_and_sequence_parallelism_by_hand():
    s, b, h, a, t = 2048, 2, 4096, 32, 8
    sbh = s * b * h
    # full recompute keeps the layer input 2sbh: replicated over TP ranks, sharded by SP
    assert mem.activation_bytes_per_layer(s, b, h, a, tp=t, recompute="full") == 2 * sbh
    assert mem.activation_bytes_per_layer(s, b, h, a, tp=t, sequence_parallel=True, recompute="full") == 2 * sbh / t
    # selective: the 5as/h term is gone; TP alone shards 24 of the 34, SP shards all 34
    assert mem.activation_bytes_per_layer(s, b, h, a, tp=t, recompute="selective") == sbh * (10 + 24 / t)
    assert mem.activation_bytes_per_layer(s, b, h, a, tp=t, sequence_parallel=True,
                                          recompute="selective") == sbh * 34 / t


def test_unknown_recompute_mode_is_an_error():
    with pytest.raises(ValueError, match="recompute"):
        mem.activation_bytes_per_layer(2048, 1, 4096, 32, recompute="Full")
