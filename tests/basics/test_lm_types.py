"""Attention masks vs F.scaled_dot_product_attention and invariants; MLM masking statistics."""
import pytest
import torch
import torch.nn.functional as F

from scripted_draws import float32_below, script_draws
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


def test_bidirectional_mask_is_boolean_all_true_and_equals_no_mask():
    m = lt.attention_mask(5, "bidirectional")
    # a float mask is *added* to the logits by SDPA: ones would pass the next check, so check the type
    assert m.dtype == torch.bool and m.shape == (5, 5) and bool(m.all())
    torch.manual_seed(3)
    q, k, v = (torch.randn(1, 2, 5, 4) for _ in range(3))
    torch.testing.assert_close(_attend(q, k, v, m), F.scaled_dot_product_attention(q, k, v))


def test_prefix_len_defaults_to_zero_and_unknown_kind_is_an_error():
    assert torch.equal(lt.attention_mask(5, "prefix"), lt.attention_mask(5, "causal"))
    with pytest.raises(ValueError, match="sliding_window"):
        lt.attention_mask(5, "sliding_window")


def test_mlm_random_replacement_is_uniform_over_the_whole_vocabulary():
    # Every id is 7, the vocabulary is 0..9 and [MASK] is 99, so each output value says what happened:
    # 99 = masked (80%), another id = random replacement (10% spread over 10 ids, 1% each), 7 = unchanged
    # (10%) or a random draw of 7 (1%). p = 0.5 also checks that p is used.
    g = torch.Generator().manual_seed(1)
    ids = torch.full((200, 512), 7)
    before = ids.clone()
    corrupted, labels = lt.mlm_mask(ids, mask_id=99, vocab_size=10, p=0.5, generator=g)
    assert torch.equal(ids, before)                                   # the input is not modified
    chosen = labels != -100
    n = chosen.sum().item()
    assert abs(n / ids.numel() - 0.5) < 0.01
    assert torch.equal(labels[chosen], ids[chosen])
    counts = torch.bincount(corrupted[chosen], minlength=100).double() / n
    assert set(corrupted[chosen].unique().tolist()) == set(range(10)) | {99}     # 0 and 9 both reachable
    assert abs(counts[99] - 0.8) < 0.01 and abs(counts[7] - 0.11) < 0.01
    other = counts[[v for v in range(10) if v != 7]]
    assert (other - 0.01).abs().max() < 0.003                         # ~512 draws each, sd ~ 0.0004


def test_mlm_mask_uses_only_the_given_generator():
    ids = torch.randint(5, 1000, (4, 64), generator=torch.Generator().manual_seed(0))
    out1 = lt.mlm_mask(ids, 4, 1000, p=0.5, generator=torch.Generator().manual_seed(123))
    torch.manual_seed(0)
    expected_global = torch.rand(3)
    torch.manual_seed(0)
    out2 = lt.mlm_mask(ids, 4, 1000, p=0.5, generator=torch.Generator().manual_seed(123))
    assert torch.equal(torch.rand(3), expected_global)                # the global RNG was not consumed
    assert torch.equal(out1[0], out2[0]) and torch.equal(out1[1], out2[1])   # same seed, same masking
    out3 = lt.mlm_mask(ids, 4, 1000, p=0.5, generator=torch.Generator().manual_seed(124))
    assert not torch.equal(out1[0], out3[0])


def test_mlm_mask_chooses_draws_strictly_below_p(monkeypatch):
    # p = 0.25 is exact in float32: a draw equal to p is not chosen, the float32 just below is
    ids = torch.full((1, 4), 7)
    u = torch.tensor([[0.25, float32_below(0.25), 0.0, 0.75]])
    r = torch.zeros(1, 4)                                  # every chosen position becomes [MASK]
    left = script_draws(monkeypatch, [u, r])
    corrupted, labels = lt.mlm_mask(ids, mask_id=9, vocab_size=10, p=0.25)
    assert left == []
    assert labels.tolist() == [[-100, 7, 7, -100]]
    assert corrupted.tolist() == [[7, 9, 9, 7]]


def test_mlm_mask_80_10_10_split_at_the_interval_edges(monkeypatch):
    # every position chosen; r at 0, just below 0.8, 0.8, just below 0.9, 0.9, just below 1
    ids = torch.full((1, 6), 7)
    u = torch.zeros(1, 6)
    r = torch.tensor([[0.0, float32_below(0.8), 0.8, float32_below(0.9), 0.9, float32_below(1.0)]])
    left = script_draws(monkeypatch, [u, r])
    corrupted, labels = lt.mlm_mask(ids, mask_id=99, vocab_size=10)
    assert left == []
    assert labels.tolist() == [[7] * 6]
    # [MASK] = 99 on [0, 0.8), random token (the fake draws 10 - 1 = 9) on [0.8, 0.9), unchanged on [0.9, 1)
    assert corrupted.tolist() == [[99, 99, 9, 9, 7, 7]]
