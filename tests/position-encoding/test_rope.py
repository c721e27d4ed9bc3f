"""Tests for snippets/position-encoding/rope.py: Hugging Face apply_rotary_pos_emb, 2x2 rotation matrices,
and the relative-position invariant <R_m q, R_n k> = g(q, k, m - n)."""
import math

import torch
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from snippets import load

rope = load("position-encoding/rope")


def test_rotate_half_matches_transformers_llama():
    torch.manual_seed(0)
    b, h, s, d, base = 2, 3, 10, 16, 10000.0
    q, k = torch.randn(b, h, s, d, dtype=torch.float64), torch.randn(b, h, s, d, dtype=torch.float64)
    pos = torch.arange(s)
    # cos / sin built here the way LlamaRotaryEmbedding does: inv_freq = 1 / base^(2i/d), emb = cat(freqs, freqs).
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    emb = torch.cat([torch.outer(pos.double(), inv_freq)] * 2, dim=-1)[None]
    q_ref, k_ref = apply_rotary_pos_emb(q, k, emb.cos(), emb.sin())
    torch.testing.assert_close(rope.apply_rope_rotate_half(q, pos, base), q_ref)
    torch.testing.assert_close(rope.apply_rope_rotate_half(k, pos, base), k_ref)
    # a non-default base (Llama 3: 500,000) must reach the frequencies, in both layouts
    base = 500000.0
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    emb = torch.cat([torch.outer(pos.double(), inv_freq)] * 2, dim=-1)[None]
    q_ref, _ = apply_rotary_pos_emb(q, k, emb.cos(), emb.sin())
    torch.testing.assert_close(rope.apply_rope_rotate_half(q, pos, base), q_ref)
    torch.testing.assert_close(rope.interleaved_to_half(rope.apply_rope_complex(q, pos, base)),
                               rope.apply_rope_rotate_half(rope.interleaved_to_half(q), pos, base))
    assert not torch.allclose(rope.apply_rope_complex(q, pos, base), rope.apply_rope_complex(q, pos))


def test_complex_form_is_2x2_rotation_per_pair():
    torch.manual_seed(1)
    d, m = 8, 5
    x = torch.randn(1, d, dtype=torch.float64)
    out = rope.apply_rope_complex(x, torch.tensor([m]))[0]
    for i in range(d // 2):
        a = m * 10000 ** (-2 * i / d)
        r = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64)
        torch.testing.assert_close(out[2 * i:2 * i + 2], r @ x[0, 2 * i:2 * i + 2])


def test_complex_and_rotate_half_forms_agree_up_to_layout():
    torch.manual_seed(2)
    x = torch.randn(2, 7, 32, dtype=torch.float64)
    pos = torch.arange(7) * 13
    a = rope.interleaved_to_half(rope.apply_rope_complex(x, pos))
    b = rope.apply_rope_rotate_half(rope.interleaved_to_half(x), pos)
    torch.testing.assert_close(a, b)
    # The permutation is just a reordering of coordinates (hand-written for d = 4).
    assert rope.interleaved_to_half(torch.tensor([0, 1, 2, 3])).tolist() == [0, 2, 1, 3]


def test_scores_depend_only_on_relative_offset():
    torch.manual_seed(3)
    d = 64
    for _ in range(5):
        q, k = torch.randn(1, d, dtype=torch.float64), torch.randn(1, d, dtype=torch.float64)
        for offset in (0, 1, 7, -20, 300):
            scores = []
            for m in (0, 11, 512, 9000):
                n = m - offset
                for fn in (rope.apply_rope_complex, rope.apply_rope_rotate_half):
                    qm = fn(q, torch.tensor([m]))
                    kn = fn(k, torch.tensor([n]))
                    scores.append((qm @ kn.T).item())
            # same offset -> same score, whatever the absolute positions (and for both layouts,
            # since the dot product does not care how coordinates are ordered)
            assert max(scores[0::2]) - min(scores[0::2]) < 1e-9
            assert max(scores[1::2]) - min(scores[1::2]) < 1e-9


def test_rope_preserves_norm_and_position_zero_is_identity():
    torch.manual_seed(4)
    x = torch.randn(3, 20, 16, dtype=torch.float64)
    pos = torch.arange(20) * 97
    torch.testing.assert_close(rope.apply_rope_rotate_half(x, pos).norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rope.apply_rope_complex(x[:, :1], torch.tensor([0])), x[:, :1])


def test_inv_freq_closed_form():
    f = rope.rope_inv_freq(128)                        # default base 10000 (RoFormer, LLaMA 1/2)
    assert f[0] == 1.0 and len(f) == 64
    torch.testing.assert_close(f[-1], torch.tensor(10000.0 ** (-126 / 128), dtype=torch.float64),
                               rtol=1e-12, atol=0)     # f[-1] ~ 1e-4: an absolute tolerance would hide the base


def test_rotate_half_matches_transformers_and_by_hand():
    from transformers.models.llama.modeling_llama import rotate_half as hf_rotate_half
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert torch.equal(rope.rotate_half(x), torch.tensor([-3.0, -4.0, 1.0, 2.0]))     # (x1, x2) -> (-x2, x1)
    y = torch.randn(2, 3, 5, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rope.rotate_half(y), hf_rotate_half(y))


def test_output_keeps_the_input_dtype():
    # The rotation is computed in float64 and cast back: a float32 / bfloat16 activation stays one
    # (a float64 result would silently double the memory of q and k downstream).
    torch.manual_seed(5)
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    pos = torch.arange(6) * 1000
    for dtype in (torch.float32, torch.bfloat16):
        for fn in (rope.apply_rope_complex, rope.apply_rope_rotate_half):
            out = fn(x.to(dtype), pos)
            assert out.dtype == dtype
            torch.testing.assert_close(out, fn(x.to(dtype).double(), pos).to(dtype))
