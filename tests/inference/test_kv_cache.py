"""Tests for snippets/inference/kv_cache.py: cached decoding == full recomputation, attention ==
torch SDPA, memory numbers by hand (LLaMA-2-7B config from transformers), paged layout == contiguous."""
import torch
import torch.nn.functional as F
from transformers import LlamaConfig

from snippets import load

kv = load("inference/kv_cache")


def test_cached_attention_prefill_matches_sdpa_with_gqa():
    torch.manual_seed(0)
    q = torch.randn(2, 4, 7, 8)
    k, v = torch.randn(2, 2, 7, 8), torch.randn(2, 2, 7, 8)
    out, cache = kv.cached_attention(q, k, v, None)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    torch.testing.assert_close(out, ref)
    assert cache["k"].shape == (2, 2, 7, 8)


def test_decode_step_matches_last_row_of_full_attention():
    torch.manual_seed(1)
    q, k, v = torch.randn(1, 4, 9, 8), torch.randn(1, 4, 9, 8), torch.randn(1, 4, 9, 8)
    _, cache = kv.cached_attention(q[:, :, :8], k[:, :, :8], v[:, :, :8], None)
    out_last, cache = kv.cached_attention(q[:, :, 8:], k[:, :, 8:], v[:, :, 8:], cache)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out_last, ref[:, :, 8:])
    assert cache["k"].shape[2] == 9


def _randomise(model):
    """Random LayerNorm gains/biases too: with the default 1/0 init, ln1, ln2 and ln_f are
    interchangeable and a model wired to the wrong norm would still look right."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            gain = name.endswith("weight") and p.dim() == 1                      # LayerNorm gains
            p.copy_((1.0 if gain else 0.0) + 0.5 * torch.randn(p.shape, generator=g))
    return model


def _reference_logits(model, ids):
    """An independent pre-LN GQA decoder written with F.layer_norm / F.linear / SDPA."""
    b, t = ids.shape
    d = model.emb.weight.shape[1]
    x = model.emb.weight[ids] + model.pos.weight[:t]
    for L in model.layers:
        h = F.layer_norm(x, (d,), L["ln1"].weight, L["ln1"].bias)
        q = F.linear(h, L["q"].weight, L["q"].bias).view(b, t, model.h, model.hd).transpose(1, 2)
        kvp = F.linear(h, L["kv"].weight, L["kv"].bias).view(b, t, 2, model.hkv, model.hd)
        k, v = kvp[:, :, 0].transpose(1, 2), kvp[:, :, 1].transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + F.linear(a.transpose(1, 2).reshape(b, t, d), L["o"].weight, L["o"].bias)
        h2 = F.layer_norm(x, (d,), L["ln2"].weight, L["ln2"].bias)
        m = F.gelu(F.linear(h2, L["mlp"][0].weight, L["mlp"][0].bias))
        x = x + F.linear(m, L["mlp"][2].weight, L["mlp"][2].bias)
    return F.linear(F.layer_norm(x, (d,), model.ln_f.weight, model.ln_f.bias), model.head.weight)


def test_decoder_matches_an_independent_reference_with_and_without_cache():
    torch.manual_seed(7)
    model = _randomise(kv.TinyDecoder().eval())
    ids = torch.randint(0, 50, (2, 11))
    with torch.no_grad():
        ref = _reference_logits(model, ids)
        full, _ = model(ids)
        a, c = model(ids[:, :4])
        b, c = model(ids[:, 4:5], c)
        rest, c = model(ids[:, 5:], c)
    torch.testing.assert_close(full, ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(torch.cat([a, b, rest], 1), ref, atol=1e-4, rtol=1e-4)
    # greedy generation = argmax of the reference model, one token at a time
    seq = ids[:, :3]
    with torch.no_grad():
        for _ in range(6):
            seq = torch.cat([seq, _reference_logits(model, seq)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(kv.generate_greedy(model, ids[:, :3], 6, True), seq)


def test_cached_attention_chunk_after_cache_matches_sdpa_with_gqa():
    torch.manual_seed(8)
    q = torch.randn(2, 6, 10, 4)
    k, v = torch.randn(2, 2, 10, 4), torch.randn(2, 2, 10, 4)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    _, cache = kv.cached_attention(q[:, :, :3], k[:, :, :3], v[:, :, :3], None)
    out, cache = kv.cached_attention(q[:, :, 3:], k[:, :, 3:], v[:, :, 3:], cache)   # t = 7 > 1, past = 3
    torch.testing.assert_close(out, ref[:, :, 3:])
    torch.testing.assert_close(cache["k"], k)
    torch.testing.assert_close(cache["v"], v)


def test_incremental_logits_equal_full_recompute():
    torch.manual_seed(2)
    model = kv.TinyDecoder().eval()
    ids = torch.randint(0, 50, (3, 12))
    with torch.no_grad():
        full, _ = model(ids)                                   # (3, 12, vocab), no cache at all
        logits, caches = model(ids[:, :5])                     # prefill 5 tokens
        steps = [logits]
        for t in range(5, 12):                                 # then one token at a time
            step, caches = model(ids[:, t:t + 1], caches)
            steps.append(step)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    assert caches[0]["k"].shape == (3, 2, 12, 8)               # (batch, kv_heads, seq, head_dim)


def test_chunked_prefill_equals_one_shot_prefill():
    torch.manual_seed(3)
    model = kv.TinyDecoder().eval()
    ids = torch.randint(0, 50, (2, 15))
    with torch.no_grad():
        full, _ = model(ids)
        a, c = model(ids[:, :6])
        b, c = model(ids[:, 6:11], c)
        d, c = model(ids[:, 11:], c)
    torch.testing.assert_close(torch.cat([a, b, d], 1), full, atol=1e-5, rtol=1e-5)


def test_greedy_generation_same_with_and_without_cache():
    torch.manual_seed(4)
    model = kv.TinyDecoder().eval()
    prompt = torch.randint(0, 50, (2, 4))
    assert torch.equal(kv.generate_greedy(model, prompt, 10, True), kv.generate_greedy(model, prompt, 10, False))


def test_kv_bytes_for_llama2_7b_at_4k_by_hand():
    cfg = LlamaConfig()          # transformers' defaults are the LLaMA-7B shape
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.hidden_size) == (32, 32, 4096)
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    n_kv = cfg.num_key_value_heads
    # by hand: 2 (K,V) * 32 layers * 4096 (= 32 heads * 128) * 2 bytes = 524288 B = 0.5 MiB per token;
    # 4096 tokens -> 2 GiB per sequence.
    per_token = kv.kv_cache_bytes(cfg.num_hidden_layers, n_kv, head_dim, 1)
    assert per_token == 512 * 1024
    assert kv.kv_cache_bytes(cfg.num_hidden_layers, n_kv, head_dim, 4096) == 2 * 2**30
    # batch 8 -> 16 GiB, more than the 13.5 GB of fp16 weights of the model itself
    assert kv.kv_cache_bytes(32, 32, 128, 4096, batch=8) == 16 * 2**30
    # GQA with 8 KV heads (LLaMA-3-8B shape) -> 4x smaller: 128 KiB per token
    assert kv.kv_cache_bytes(32, 8, 128, 1) == 128 * 1024
    # int8 cache halves it again
    assert kv.kv_cache_bytes(32, 8, 128, 1, bytes_per_elem=1) == 64 * 1024
    # 40 GiB free / 2 GiB per 4k sequence = 20 sequences
    assert kv.max_batch_for_memory(40 * 2**30, 32, 32, 128, 4096) == 20


def test_kv_bytes_matches_real_tensor_sizes():
    torch.manual_seed(5)
    model = kv.TinyDecoder(n_layers=2, n_kv_heads=2).eval()
    with torch.no_grad():
        _, caches = model(torch.randint(0, 50, (3, 10)))
    real = sum(c["k"].numel() * c["k"].element_size() + c["v"].numel() * c["v"].element_size() for c in caches)
    assert real == kv.kv_cache_bytes(2, 2, 8, 10, batch=3, bytes_per_elem=4)


def test_paged_gather_equals_contiguous_cache():
    torch.manual_seed(6)
    block, seq_len, n_blocks_pool = 4, 10, 16
    contiguous = torch.randn(seq_len, 2, 8)                     # (seq, kv_heads, head_dim)
    pool = torch.zeros(n_blocks_pool, block, 2, 8)
    n = kv.blocks_needed(seq_len, block)
    assert n == 3                                               # ceil(10 / 4)
    table = torch.randperm(n_blocks_pool)[:n].tolist()          # blocks scattered anywhere in memory
    for logical, physical in enumerate(table):
        chunk = contiguous[logical * block:(logical + 1) * block]
        pool[physical, :chunk.shape[0]] = chunk
    torch.testing.assert_close(kv.paged_gather(pool, table, seq_len), contiguous)


def test_wasted_slots_by_hand():
    assert kv.wasted_slots(1000, 16) == 8                 # 63 blocks * 16 = 1008 slots for 1000 tokens
    assert kv.wasted_slots(1008, 16) == 0                 # exact fit
    assert kv.wasted_slots(1009, 16) == 15                # the worst case, block_size - 1
    assert max(kv.wasted_slots(n, 16) for n in range(1, 200)) == 15


def test_paged_vs_contiguous_capacity_llama3_8b():
    per_tok = 2 * 32 * 8 * 128 * 2                        # 131072 bytes
    # contiguous: 56e9 / (131072 * 4096) = 104.3 -> 104
    assert kv.contiguous_capacity(56e9, per_tok, 4096) == 104
    # paged: 56e9 // (131072 * 16) = 26702 blocks; 1,000 tokens take 63 blocks -> 26702 // 63 = 423
    assert kv.paged_capacity(56e9, per_tok, [1000] * 1000, 16) == 26702 // 63 == 423
    # a pool of 10 blocks: 3 + 3 + 3 blocks fit, the 4th request (3 blocks) does not
    assert kv.paged_capacity(10 * 16 * per_tok, per_tok, [40, 48, 33, 40], 16) == 3


def test_one_layer_decoder_caches_like_full_recompute():
    # a single layer: the cache length must be read from the one cache there is (layer 0)
    torch.manual_seed(9)
    model = _randomise(kv.TinyDecoder(n_layers=1).eval())
    ids = torch.randint(0, 50, (2, 7))
    with torch.no_grad():
        ref = _reference_logits(model, ids)
        a, c = model(ids[:, :5])
        b, c = model(ids[:, 5:], c)
    assert len(c) == 1 and c[0]["k"].shape == (2, 2, 7, 8)
    torch.testing.assert_close(torch.cat([a, b], 1), ref, atol=1e-4, rtol=1e-4)


def test_capacities_at_the_one_byte_boundary_and_exact_for_any_pool_size():
    # Byte counts are integers: k reservations fit in exactly k * need bytes, one byte less holds k - 1.
    # Python ints keep this exact however large the pool (k up to 2**40: a 2**70-byte pool, past the
    # 2**53 where float division would round k - 1/need up to k).
    per_seq = kv.kv_cache_bytes(80, 8, 128, 4096)           # LLaMA-3-70B shape, 4096 tokens: 1.25 GiB
    assert per_seq == 2 * 80 * 8 * 128 * 4096 * 2 == 1342177280
    per_tok = 2 * 80 * 8 * 128 * 2                            # 327680 B
    for k in (1, 3, 20, 12345, 2**40):
        assert kv.max_batch_for_memory(k * per_seq, 80, 8, 128, 4096) == k
        assert kv.max_batch_for_memory(k * per_seq - 1, 80, 8, 128, 4096) == k - 1
        assert kv.contiguous_capacity(k * per_tok * 4096, per_tok, 4096) == k
        assert kv.contiguous_capacity(k * per_tok * 4096 - 1, per_tok, 4096) == k - 1
        # one request of k blocks (16 tokens each) fits a pool of exactly k blocks, not one byte less
        assert kv.paged_capacity(k * per_tok * 16, per_tok, [16 * k], 16) == 1
        assert kv.paged_capacity(k * per_tok * 16 - 1, per_tok, [16 * k], 16) == 0


def test_max_batch_uses_the_cache_dtype():
    # 40 GiB of an int8 cache (1 byte per element) holds twice the fp16 count: 1 GiB per 4k sequence
    assert kv.max_batch_for_memory(40 * 2**30, 32, 32, 128, 4096, bytes_per_elem=1) == 40
    assert kv.max_batch_for_memory(40 * 2**30, 32, 32, 128, 4096, bytes_per_elem=4) == 10


def test_paged_capacity_default_block_size_is_16():
    # 160 bytes at 1 byte per token = 10 blocks of 16; each 32-token request takes 2 blocks -> 5 fit,
    # then the 1-token request finds no block left (a block of 17 would give 9 blocks and 4 requests)
    assert kv.paged_capacity(160, 1, [32] * 5 + [1]) == 5
    assert kv.paged_capacity(160, 1, [32] * 5 + [1], 16) == 5
    # a pool filled exactly by the last admitted request: 3 + 3 + 3 blocks in 9
    assert kv.paged_capacity(9 * 16, 1, [40, 48, 33]) == 3
    # admitted in order: the 4th request (3 blocks) does not fit in the 1 block left, and the 5th
    # (1 block) is not admitted past it
    assert kv.paged_capacity(10 * 16, 1, [40, 48, 33, 40, 16]) == 3
