"""Tests for snippets/position-encoding/relative.py: Hugging Face T5 and BLOOM code, the ALiBi paper's slopes."""
import torch
from transformers.models.bloom.modeling_bloom import build_alibi_tensor
from transformers.models.t5.modeling_t5 import T5Attention

from snippets import load

rel = load("position-encoding/relative")


def test_t5_buckets_match_transformers():
    r = torch.arange(-300, 301)[None, :] - torch.zeros(1, 1, dtype=torch.long)
    for bidirectional in (True, False):
        # 6 buckets in two halves, or 3 causal: one exact bucket (max_exact 1), distance 1 goes through the log
        for num_buckets, max_distance in ((32, 128), (16, 64), (6 if bidirectional else 3, 4)):
            ours = rel.t5_relative_position_bucket(r, bidirectional, num_buckets, max_distance)
            ref = T5Attention._relative_position_bucket(r, bidirectional, num_buckets, max_distance)
            assert ours.dtype == torch.long                   # ids index the (bucket, head) bias table
            assert torch.equal(ours, ref)
    # defaults: T5's encoder setting (bidirectional, 32 buckets, max distance 128)
    assert torch.equal(rel.t5_relative_position_bucket(r), T5Attention._relative_position_bucket(r, True, 32, 128))


def test_t5_bucket_properties_by_hand():
    r = torch.tensor([0, -1, -7, -8, -127, -128, -5000])
    b = rel.t5_relative_position_bucket(r, bidirectional=False)          # 32 buckets, causal
    assert b[:3].tolist() == [0, 1, 7]                                    # exact buckets for distances < 16
    assert b[-1] == 31 and b[-2] == 31                                    # >= 128 all share the last bucket
    assert rel.t5_relative_position_bucket(torch.tensor([5]), bidirectional=False).item() == 0  # future -> 0


def test_alibi_slopes_are_the_paper_values():
    torch.testing.assert_close(rel.alibi_slopes(8), torch.tensor([1 / 2 ** k for k in range(1, 9)]))
    torch.testing.assert_close(rel.alibi_slopes(16)[:2], torch.tensor([2 ** -0.5, 1 / 2]))
    # Non power of 2 (12 heads): 8-head slopes + odd-indexed 16-head slopes, as in BLOOM's code.
    for n in (8, 12, 16, 6):
        bloom = build_alibi_tensor(torch.ones(1, 3), n, torch.float32)    # (n, 1, 3) = slope * key position
        torch.testing.assert_close(rel.alibi_slopes(n), bloom[:, 0, 1])


def test_alibi_bias_gives_same_attention_as_bloom():
    # BLOOM adds slope * j (key position); ours adds -slope * (i - j). They differ by slope * i,
    # a constant per query row, which softmax ignores.
    n, s = 8, 6
    torch.manual_seed(0)
    logits = torch.randn(n, s, s)
    causal = torch.ones(s, s, dtype=torch.bool).triu(1)
    bloom = build_alibi_tensor(torch.ones(1, s), n, torch.float32).view(n, 1, s)
    ref = torch.softmax((logits + bloom).masked_fill(causal, float("-inf")), -1)
    ours = torch.softmax(logits + rel.alibi_bias(n, s), -1)
    torch.testing.assert_close(ours, ref)
    assert rel.alibi_bias(n, s)[0, 3, 1].item() == -0.5 * 2              # head 1, distance 2, slope 1/2
