"""Attention masks vs F.scaled_dot_product_attention and invariants; MLM masking statistics."""
import torch
import torch.nn.functional as F

from snippets import load

lt = load("basics/lm_types")


def _attend(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def test_causal_mask_equals_sdpa_is_causal():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 8) for _ in range(3))       # (batch, heads, seq, head_dim)
    torch.testing.assert_close(_attend(q, k, v, lt.attention_mask(6, "causal")),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert torch.equal(lt.attention_mask(6, "causal"), torch.ones(6, 6, dtype=torch.bool).tril())


def test_causal_output_does_not_depend_on_future_tokens():
    torch.manual_seed(1)
    q, k, v = (torch.randn(1, 1, 7, 4) for _ in range(3))
    k2, v2 = k.clone(), v.clone()
    k2[..., 4:, :] = torch.randn(1, 1, 3, 4)
    v2[..., 4:, :] = torch.randn(1, 1, 3, 4)
    m = lt.attention_mask(7, "causal")
    torch.testing.assert_close(_attend(q, k, v, m)[..., :4, :], _attend(q, k2, v2, m)[..., :4, :])


def test_prefix_mask_prefix_is_bidirectional_but_blind_to_targets():
    torch.manual_seed(2)
    P, S = 3, 7
    q, k, v = (torch.randn(1, 1, S, 4) for _ in range(3))
    m = lt.attention_mask(S, "prefix", prefix_len=P)
    # Changing a later prefix token changes the output at position 0 (bidirectional within the prefix) ...
    k2 = k.clone()
    k2[..., 2, :] += 5
    assert not torch.allclose(_attend(q, k, v, m)[..., 0, :], _attend(q, k2, v, m)[..., 0, :])
    # ... but changing target tokens (positions >= P) never changes prefix outputs.
    k3, v3 = k.clone(), v.clone()
    k3[..., P:, :] = torch.randn(1, 1, S - P, 4)
    v3[..., P:, :] = torch.randn(1, 1, S - P, 4)
    torch.testing.assert_close(_attend(q, k, v, m)[..., :P, :], _attend(q, k3, v3, m)[..., :P, :])
    # With prefix_len 0 it is exactly the causal mask.
    assert torch.equal(lt.attention_mask(S, "prefix", 0), lt.attention_mask(S, "causal"))


def test_mlm_mask_statistics_80_10_10():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 30000, (200, 512), generator=g)
    corrupted, labels = lt.mlm_mask(ids, mask_id=4, vocab_size=30000, generator=g)
    chosen = labels != -100
    frac = chosen.float().mean().item()
    assert abs(frac - 0.15) < 0.005
    assert torch.equal(labels[chosen], ids[chosen])                 # labels are the original tokens
    assert torch.equal(corrupted[~chosen], ids[~chosen])             # unchosen positions untouched
    masked = (corrupted[chosen] == 4).float().mean().item()
    unchanged = (corrupted[chosen] == ids[chosen]).float().mean().item()
    assert abs(masked - 0.8) < 0.01 and abs(unchanged - 0.1) < 0.01  # random replacement can hit the same id (~0)


def test_prefix_mask_by_hand():
    # seq 4, prefix 2: rows 0-1 see the whole prefix (cols 0-1); rows 2-3 add the causal part
    expected = torch.tensor([[1, 1, 0, 0],
                             [1, 1, 0, 0],
                             [1, 1, 1, 0],
                             [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(lt.attention_mask(4, "prefix", prefix_len=2), expected)
    assert lt.attention_mask(3, "bidirectional").all()
