"""KV cache: incremental decoding, cache memory, and a paged (block-table) cache layout.

Pages: docs/inference/kv_cache.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# --8<-- [start:cached_attention]
def cached_attention(q: torch.Tensor, k_new: torch.Tensor, v_new: torch.Tensor,
                     cache: dict[str, torch.Tensor] | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Causal attention for `t` new tokens given the cached keys/values of the `past` tokens.

    q: (batch, heads, t, head_dim); k_new, v_new: (batch, kv_heads, t, head_dim).
    cache: {"k", "v"} of shape (batch, kv_heads, past, head_dim) or None.
    Returns (out (batch, heads, t, head_dim), updated cache). Works for a whole prompt
    (prefill, t = prompt length), a chunk of it (chunked prefill) or one token (decode, t = 1).
    """
    if cache is not None:
        k = torch.cat([cache["k"], k_new], dim=2)                   # append, never recompute
        v = torch.cat([cache["v"], v_new], dim=2)
    else:
        k, v = k_new, v_new
    past, t, total = k.shape[2] - q.shape[2], q.shape[2], k.shape[2]
    group = q.shape[1] // k.shape[1]                                 # GQA: query heads per KV head
    k_rep, v_rep = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scores = q @ k_rep.transpose(-2, -1) / math.sqrt(q.shape[-1])   # (b, h, t, past + t)
    # new token i sits at absolute position past + i and may see keys 0 .. past + i
    mask = torch.arange(total).view(1, total) > (past + torch.arange(t)).view(t, 1)
    scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v_rep, {"k": k, "v": v}
# --8<-- [end:cached_attention]


class TinyDecoder(nn.Module):
    """A small pre-LN decoder-only LM with GQA and learned positions, written to show the cache."""

    def __init__(self, vocab: int = 50, d: int = 32, n_heads: int = 4, n_kv_heads: int = 2,
                 n_layers: int = 2, max_len: int = 64) -> None:
        super().__init__()
        self.h, self.hkv, self.hd = n_heads, n_kv_heads, d // n_heads
        self.emb, self.pos = nn.Embedding(vocab, d), nn.Embedding(max_len, d)
        self.layers = nn.ModuleList()
        for _ in range(n_layers):
            self.layers.append(nn.ModuleDict({
                "ln1": nn.LayerNorm(d), "q": nn.Linear(d, d), "kv": nn.Linear(d, 2 * n_kv_heads * self.hd),
                "o": nn.Linear(d, d), "ln2": nn.LayerNorm(d),
                "mlp": nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))}))
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    # --8<-- [start:decoder_forward]
    def forward(self, ids: torch.Tensor, caches: list | None = None) -> tuple[torch.Tensor, list]:
        """ids: (batch, t) new tokens only; caches: one {"k","v"} per layer (or None).
        Returns (logits (batch, t, vocab), new caches)."""
        b, t = ids.shape
        past = 0 if caches is None else caches[0]["k"].shape[2]
        x = self.emb(ids) + self.pos(torch.arange(past, past + t))   # positions continue after the cache
        new_caches = []
        for i, layer in enumerate(self.layers):
            h_in = layer["ln1"](x)
            q = layer["q"](h_in).view(b, t, self.h, self.hd).transpose(1, 2)
            k, v = layer["kv"](h_in).view(b, t, 2, self.hkv, self.hd).permute(2, 0, 3, 1, 4)
            attn, cache = cached_attention(q, k, v, None if caches is None else caches[i])
            new_caches.append(cache)
            x = x + layer["o"](attn.transpose(1, 2).reshape(b, t, -1))
            x = x + layer["mlp"](layer["ln2"](x))
        return self.head(self.ln_f(x)), new_caches
    # --8<-- [end:decoder_forward]


# --8<-- [start:kv_bytes]
def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, seq_len: int,
                   batch: int = 1, bytes_per_elem: float = 2) -> float:
    """Bytes of K and V for all layers: 2 (K and V) * layers * kv_heads * head_dim * tokens * bytes."""
    return 2 * n_layers * n_kv_heads * head_dim * seq_len * batch * bytes_per_elem


def max_batch_for_memory(free_bytes: float, n_layers: int, n_kv_heads: int, head_dim: int,
                         seq_len: int, bytes_per_elem: float = 2) -> int:
    """How many sequences of `seq_len` tokens fit in `free_bytes` of KV cache."""
    return int(free_bytes // kv_cache_bytes(n_layers, n_kv_heads, head_dim, seq_len, 1, bytes_per_elem))
# --8<-- [end:kv_bytes]


# --8<-- [start:paged]
def blocks_needed(seq_len: int, block_size: int) -> int:
    """Physical blocks one sequence occupies; only its last block can be partly empty."""
    return -(-seq_len // block_size)


def paged_gather(pool: torch.Tensor, block_table: list[int], seq_len: int) -> torch.Tensor:
    """Read one sequence's K (or V) from a paged pool.

    pool: (num_blocks, block_size, kv_heads, head_dim), shared by all sequences;
    block_table: physical block id of each logical block of this sequence.
    Returns (seq_len, kv_heads, head_dim), i.e. the contiguous cache the kernel would see.
    """
    blocks = pool[torch.tensor(block_table)]                          # (n_blocks, block, kv_heads, hd)
    return blocks.reshape(-1, *pool.shape[2:])[:seq_len]
# --8<-- [end:paged]


# --8<-- [start:paged_capacity]
def wasted_slots(seq_len: int, block_size: int) -> int:
    """Empty token slots in the last block: blocks * block_size - seq_len, between 0 and block_size - 1."""
    return blocks_needed(seq_len, block_size) * block_size - seq_len


def contiguous_capacity(free_bytes: float, bytes_per_token: float, reserve_len: int) -> int:
    """Pre-paging allocators reserve max length for every request, however long it really is."""
    return int(free_bytes // (bytes_per_token * reserve_len))


def paged_capacity(free_bytes: float, bytes_per_token: float, lengths: list[int], block_size: int = 16) -> int:
    """How many of the requests (admitted in order) fit when each takes only ceil(len / block) blocks."""
    free_blocks = int(free_bytes // (bytes_per_token * block_size))
    admitted = 0
    for n in lengths:
        need = blocks_needed(n, block_size)
        if need > free_blocks:
            break
        free_blocks -= need
        admitted += 1
    return admitted
# --8<-- [end:paged_capacity]


@torch.no_grad()
def generate_greedy(model: TinyDecoder, prompt: torch.Tensor, steps: int, use_cache: bool = True) -> torch.Tensor:
    """Greedy generation, with or without the cache. prompt: (batch, t) -> (batch, t + steps)."""
    ids = prompt
    logits, caches = model(prompt)                                   # prefill
    for _ in range(steps):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        if use_cache:
            logits, caches = model(nxt, caches)                      # one token in, O(1) new K/V
        else:
            logits, _ = model(ids)                                   # recompute everything
    return ids


if __name__ == "__main__":
    torch.manual_seed(0)
    model = TinyDecoder().eval()
    prompt = torch.randint(0, 50, (2, 5))
    a, b = generate_greedy(model, prompt, 8, True), generate_greedy(model, prompt, 8, False)
    print("cached decode == full recompute:", torch.equal(a, b))
    gib = kv_cache_bytes(32, 32, 128, 4096) / 2**30
    print(f"LLaMA-2-7B (32 layers, 32 KV heads, head_dim 128), fp16, 4096 tokens: {gib:.2f} GiB per sequence")
    print(f"same with 8 KV heads (GQA): {kv_cache_bytes(32, 8, 128, 4096) / 2**30:.2f} GiB")
    print("sequences of 4096 tokens in 40 GiB (MHA):", max_batch_for_memory(40 * 2**30, 32, 32, 128, 4096))
    print("blocks for 1000 tokens at block size 16:", blocks_needed(1000, 16),
          f"(waste {wasted_slots(1000, 16)} slots; the bound is 15)")
    per_tok = kv_cache_bytes(32, 8, 128, 1)                          # Llama-3-8B: 128 KiB/token
    print("Llama-3-8B, 56 GB of KV: contiguous 4K reservations ->", contiguous_capacity(56e9, per_tok, 4096),
          "sequences; paged, 1,000-token sequences ->", paged_capacity(56e9, per_tok, [1000] * 1000, 16))
