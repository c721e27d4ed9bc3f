"""Tests for snippets/position-encoding/extrapolation.py: Hugging Face ROPE_INIT_FUNCTIONS and the
boundary behavior each method states."""
import math

import pytest

import torch
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from snippets import load

ex = load("position-encoding/extrapolation")

D, BASE = 128, 10000.0


def _hf(rope_parameters: dict, max_pos: int, **kw):
    cfg = LlamaConfig(hidden_size=D * 2, num_attention_heads=2, max_position_embeddings=max_pos,
                      rope_parameters={"rope_theta": BASE, **rope_parameters})
    inv_freq, attn = ROPE_INIT_FUNCTIONS[rope_parameters["rope_type"]](cfg, None, **kw)
    return inv_freq.double(), attn


def test_pi_matches_transformers_linear_and_scales_every_frequency():
    ref, _ = _hf({"rope_type": "linear", "factor": 4.0}, 4096)
    torch.testing.assert_close(ex.pi_inv_freq(D, BASE, 4.0), ref, rtol=1e-6, atol=0)
    torch.testing.assert_close(ex.pi_inv_freq(D, BASE, 4.0) * 4.0, ex.base_inv_freq(D, BASE))


def test_ntk_aware_matches_transformers_dynamic_at_s_times_length():
    # HF "dynamic" NTK with factor 1 uses scale = seq_len / max_position_embeddings.
    for s in (2.0, 8.0):
        ref, _ = _hf({"rope_type": "dynamic", "factor": 1.0}, 4096, seq_len=int(4096 * s))
        torch.testing.assert_close(ex.ntk_aware_inv_freq(D, BASE, s), ref, rtol=1e-5, atol=0)


def test_ntk_aware_boundaries():
    s = 16.0
    theta, f = ex.base_inv_freq(D, BASE), ex.ntk_aware_inv_freq(D, BASE, s)
    assert f[0] == theta[0] == 1.0                                   # highest frequency unchanged
    torch.testing.assert_close(f[-1], theta[-1] / s)                 # lowest frequency = PI
    assert torch.all(f <= theta) and torch.all(f >= theta / s - 1e-15)   # in between: partial interpolation


def test_yarn_matches_transformers():
    for s, truncate in ((8.0, True), (8.0, False), (32.0, True)):
        ref, attn = _hf({"rope_type": "yarn", "factor": s, "original_max_position_embeddings": 4096,
                         "truncate": truncate}, int(4096 * s))
        torch.testing.assert_close(ex.yarn_inv_freq(D, BASE, s, 4096, truncate=truncate), ref, rtol=1e-5, atol=0)
        assert math.isclose(ex.yarn_attention_factor(s), attn)


@pytest.mark.parametrize("base, d, L, s, beta_fast, beta_slow", [
    (10000.0, 128, 64, 4.0, 32.0, 1.0),     # short original context: the fast bound is below pair 0 (clamped to 0)
    (10.0, 128, 1024, 4.0, 32.0, 1.0),      # tiny base: the slow bound is beyond d - 1 (clamped), fast one inside
    (10000.0, 64, 4096, 8.0, 4.0, 4.0),     # beta_fast == beta_slow: the bounds meet (ramp of width 0.001)
    (10000.0, 64, 4096, 8.0, 16.0, 2.0),    # other betas, other head size
    (10000.0, 128, 6, 4.0, 32.0, 1.0),      # L < 2 pi: both bounds end at 0 when truncated (0 / 0 without the nudge)
])
@pytest.mark.parametrize("truncate", [True, False])
def test_yarn_matches_transformers_at_the_edges(base, d, L, s, beta_fast, beta_slow, truncate):
    cfg = LlamaConfig(hidden_size=d * 2, num_attention_heads=2, max_position_embeddings=int(L * s),
                      rope_parameters={"rope_theta": base, "rope_type": "yarn", "factor": s,
                                       "original_max_position_embeddings": L, "beta_fast": beta_fast,
                                       "beta_slow": beta_slow, "truncate": truncate})
    ref, _ = ROPE_INIT_FUNCTIONS["yarn"](cfg, None)
    got = ex.yarn_inv_freq(d, base, s, L, beta_fast=beta_fast, beta_slow=beta_slow, truncate=truncate)
    torch.testing.assert_close(got, ref.double(), rtol=1e-5, atol=0)


def test_yarn_boundaries():
    s, L = 8.0, 4096
    theta, f = ex.base_inv_freq(D, BASE), ex.yarn_inv_freq(D, BASE, s, L, truncate=False)
    turns = L * theta / (2 * math.pi)                                # r_i = L / lambda_i
    fast, slow = turns > 32, turns < 1
    assert fast.any() and slow.any()
    torch.testing.assert_close(f[fast], theta[fast])                 # r > beta: extrapolate (unchanged)
    torch.testing.assert_close(f[slow], theta[slow] / s)             # r < alpha: interpolate like PI
    mid = ~(fast | slow)
    assert torch.all(f[mid] < theta[mid]) and torch.all(f[mid] > theta[mid] / s)
    # in between, the paper's ramp in float64: gamma = (i - low) / (high - low) over the dimension index,
    # with low / high the (here untruncated) indices where r = beta_fast / beta_slow
    low = D * math.log(L / (32 * 2 * math.pi)) / (2 * math.log(BASE))
    high = D * math.log(L / (1 * 2 * math.pi)) / (2 * math.log(BASE))
    for i in torch.nonzero(mid).flatten().tolist():
        g = (i - low) / (high - low)
        assert float(f[i]) == pytest.approx(float(theta[i]) * ((1 - g) + g / s), rel=1e-13)
    # the default truncates the bounds to integers, as Hugging Face's default does
    ref, _ = _hf({"rope_type": "yarn", "factor": s, "original_max_position_embeddings": L}, int(L * s))
    torch.testing.assert_close(ex.yarn_inv_freq(D, BASE, s, L), ref, rtol=1e-5, atol=0)
    assert not torch.allclose(ex.yarn_inv_freq(D, BASE, s, L), f, rtol=1e-5, atol=0)
    # attention temperature: sqrt(1/t) = 0.1 ln s + 1, and no change at s = 1
    assert ex.yarn_attention_factor(1.0) == 1.0
    assert ex.yarn_attention_factor(0.5) == 1.0                      # no scaling below 1 (HF's get_mscale)
    assert math.isclose(ex.yarn_attention_factor(1.5), 0.1 * math.log(1.5) + 1)
    assert math.isclose(ex.yarn_attention_factor(math.e ** 2), 1.2)


def test_llama3_scaling_matches_transformers_and_bands():
    cfg = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
               original_max_position_embeddings=8192)
    c = LlamaConfig(hidden_size=D * 2, num_attention_heads=2, max_position_embeddings=131072,
                    rope_parameters={"rope_theta": 500000.0, **cfg})
    ref, _ = ROPE_INIT_FUNCTIONS["llama3"](c, None)
    f = ex.llama3_inv_freq(D)
    torch.testing.assert_close(f, ref.double(), rtol=1e-5, atol=0)
    theta = ex.base_inv_freq(D, 500000.0)
    wavelen = 2 * math.pi / theta
    # outside the blend band: exactly theta (base 500,000 by default) or theta / 8 (theta ~ 1e-6 here: rtol only)
    torch.testing.assert_close(f[wavelen < 2048], theta[wavelen < 2048], rtol=1e-12, atol=0)
    torch.testing.assert_close(f[wavelen > 8192], theta[wavelen > 8192] / 8, rtol=1e-12, atol=0)


def test_llama3_scaling_other_parameters_match_transformers():
    cfg = dict(rope_type="llama3", factor=16.0, low_freq_factor=2.0, high_freq_factor=8.0,
               original_max_position_embeddings=4096)
    c = LlamaConfig(hidden_size=64 * 2, num_attention_heads=2, max_position_embeddings=65536,
                    rope_parameters={"rope_theta": 10000.0, **cfg})
    ref, _ = ROPE_INIT_FUNCTIONS["llama3"](c, None)
    f = ex.llama3_inv_freq(64, 10000.0, factor=16.0, low_freq_factor=2.0, high_freq_factor=8.0, original_max=4096)
    torch.testing.assert_close(f, ref.double(), rtol=1e-5, atol=0)
    theta = ex.base_inv_freq(64, 10000.0)
    wavelen = 2 * math.pi / theta
    band = (wavelen > 512) & (wavelen < 2048)                        # L / high .. L / low: the blend
    assert band.sum() >= 2 and torch.all(f[band] < theta[band]) and torch.all(f[band] > theta[band] / 16)


def test_angle_overshoot_ntk_closed_form_and_pi_none():
    d, base, L, s = 128, 10000.0, 4096, 4.0
    # b' = 10000 * 4^(128/126) = 40,890 (to the nearest unit)
    assert round(base * s ** (d / (d - 2))) == 40890
    # pair 45 has wavelength 2 pi 10000^(90/128) = 4080 < 4096 (a full turn seen), pair 46 has 4712
    assert 2 * math.pi * base ** (90 / 128) < L < 2 * math.pi * base ** (92 / 128)
    over = ex.angle_overshoot(d, base, ex.ntk_aware_inv_freq(d, base, s), L, s)
    i = torch.arange(64, dtype=torch.float64)
    expected = torch.where(i >= 46, s ** (1 - 2 * i / (d - 2)), torch.ones(64, dtype=torch.float64))
    torch.testing.assert_close(over, expected)
    assert round(float(over[46]), 2) == 1.45 and float(over[63]) == pytest.approx(1.0)
    # PI divides every frequency by s: never beyond the trained angle
    pi_over = ex.angle_overshoot(d, base, ex.pi_inv_freq(d, base, s), L, s)
    torch.testing.assert_close(pi_over, torch.ones(64, dtype=torch.float64))

    # a wavelength equal to the trained length completed its full turn: no overshoot counted there.
    # Pair 0 has theta 1, wavelength exactly 2 pi (a length of 2 pi "tokens" only to hit the boundary).
    over = ex.angle_overshoot(d, base, ex.ntk_aware_inv_freq(d, base, s), 2 * math.pi, s)
    assert float(over[0]) == 1.0 and float(over[1]) == pytest.approx(s ** (1 - 2 / (d - 2)))
