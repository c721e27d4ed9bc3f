"""LLaVA-style MLLMs: visual-token budgets, pixel-shuffle token merging, M-RoPE position ids and
the cost of each training stage.

Pages: docs/multimodal/mllm.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:token_budget]
def vit_tokens(height: int, width: int, patch: int = 14, merge: int = 1) -> int:
    """Visual tokens for one image (or tile) after a ViT with square patches and an
    optional merge x merge token merge (pixel shuffle / 2x2 merging). Sides must divide evenly."""
    if height % (patch * merge) or width % (patch * merge):
        raise ValueError("image sides must be multiples of patch * merge")
    return (height // patch) * (width // patch) // (merge * merge)


def anyres_tokens(rows: int, cols: int, tile: int = 336, patch: int = 14,
                  merge: int = 1, thumbnail: bool = True) -> int:
    """Tiling ("any-res"): rows x cols tiles of tile x tile pixels, plus one resized thumbnail.

    This is the idealised count; LLaVA-NeXT additionally removes padding rows/columns and
    appends one newline token per row of the tiled feature map."""
    per_tile = vit_tokens(tile, tile, patch, merge)
    return (rows * cols + int(thumbnail)) * per_tile


def video_tokens(seconds: float, fps: float, height: int, width: int, patch: int = 14,
                 merge: int = 2, temporal_patch: int = 2) -> int:
    """Qwen2-VL-style video: sample `fps` frames per second, group `temporal_patch`
    consecutive frames into one 3D patch, then merge merge x merge neighbours in space."""
    frames = round(seconds * fps)
    if frames % temporal_patch:
        raise ValueError("number of frames must be a multiple of temporal_patch")
    return frames // temporal_patch * vit_tokens(height, width, patch, merge)
# --8<-- [end:token_budget]


# --8<-- [start:pixel_shuffle]
def pixel_shuffle_merge(x: torch.Tensor, r: int = 2) -> torch.Tensor:
    """Space-to-depth token merge: (batch, H, W, C) -> (batch, H/r, W/r, r*r*C).

    The r x r neighbourhood of each output token is concatenated in row-major order,
    out[b, i, j, (di*r + dj)*C + c] = x[b, i*r + di, j*r + dj, c]
    (the channel layout of InternVL's pixel_shuffle and Qwen2-VL's 2x2 merger). The
    MLP projector that follows sees 4x fewer, 4x wider tokens when r = 2."""
    b, h, w, c = x.shape
    if h % r or w % r:
        raise ValueError("H and W must be divisible by r")
    x = x.reshape(b, h // r, r, w // r, r, c)          # (b, H/r, di, W/r, dj, C)
    x = x.permute(0, 1, 3, 2, 4, 5)                     # (b, H/r, W/r, di, dj, C)
    return x.reshape(b, h // r, w // r, r * r * c)
# --8<-- [end:pixel_shuffle]


# --8<-- [start:mrope]
def mrope_position_ids(segments: list[tuple[str, object]], spatial_merge: int = 2,
                       temporal_step: float = 1.0) -> torch.Tensor:
    """3-component (temporal, height, width) position ids for M-RoPE (Qwen2-VL).

    segments: ("text", n_tokens) or ("vision", (t, h, w)) with (t, h, w) the patch grid
    before spatial merging (what the processor calls grid_thw). Returns (3, seq_len).
    - text: all three components equal, counting up by 1;
    - vision: t/h/w indices of the merged grid, offset by the next free position;
      temporal index i becomes floor(i * temporal_step) (Qwen2.5-VL: tokens_per_second *
      seconds per temporal patch, so ids follow absolute time);
    - the segment after a vision block starts at (max id used so far) + 1.
    """
    parts, next_pos = [], 0
    for kind, value in segments:
        if kind == "text":
            n = int(value)
            parts.append(torch.arange(next_pos, next_pos + n).expand(3, n))
            next_pos += n
        elif kind == "vision":
            t, h, w = value
            gh, gw = h // spatial_merge, w // spatial_merge
            ti = (torch.arange(t) * temporal_step).long()
            tt, hh, ww = torch.meshgrid(ti, torch.arange(gh), torch.arange(gw), indexing="ij")
            block = torch.stack([tt.flatten(), hh.flatten(), ww.flatten()]) + next_pos
            parts.append(block)
            next_pos = int(block.max()) + 1
        else:
            raise ValueError(f"unknown segment kind {kind!r}")
    return torch.cat(parts, dim=1)
# --8<-- [end:mrope]


# --8<-- [start:stage_cost]
def mlp_projector_params(d_vision: int, d_llm: int, hidden: int | None = None) -> int:
    """Parameters of a LLaVA-1.5 `mlp2x_gelu` projector, Linear(d_vision, hidden) -> GELU ->
    Linear(hidden, d_llm), biases included; the hidden width defaults to d_llm."""
    hidden = d_llm if hidden is None else hidden
    return d_vision * hidden + hidden + hidden * d_llm + d_llm


def adam_state_gb(trainable_params: int, bytes_per_param: int = 16) -> float:
    """Weights + gradients + optimizer state of mixed-precision Adam, in GB (1e9 bytes).

    Per trainable parameter: bf16 weight 2 + bf16 gradient 2 + fp32 master copy 4 +
    fp32 first and second moments 4 + 4 = 16 bytes. Frozen weights and activations are extra."""
    return trainable_params * bytes_per_param / 1e9
# --8<-- [end:stage_cost]


if __name__ == "__main__":
    print("LLaVA-1.5, 336 px, patch 14:", vit_tokens(336, 336), "tokens")
    print("LLaVA-NeXT 2x2 tiles + thumbnail (idealised):", anyres_tokens(2, 2), "tokens")
    print("InternVL tile 448 px with pixel shuffle r=2:", vit_tokens(448, 448, 14, merge=2), "tokens")
    print("Qwen2-VL 224x224 image:", vit_tokens(224, 224, 14, merge=2), "tokens (+2 vision start/end)")
    print("10 s video at 2 fps, 336x336:", video_tokens(10, 2, 336, 336), "tokens")
    proj = mlp_projector_params(1024, 4096)
    print(f"LLaVA-1.5-7B projector: {proj:,} params; Adam state stage 1 {adam_state_gb(proj):.2f} GB, "
          f"stage 2 {adam_state_gb(6_738_415_616 + proj):.1f} GB")
    x = torch.arange(2 * 4 * 4 * 3, dtype=torch.float32).reshape(2, 4, 4, 3)
    print("pixel shuffle:", tuple(x.shape), "->", tuple(pixel_shuffle_merge(x).shape))
    pos = mrope_position_ids([("text", 3), ("vision", (1, 4, 6)), ("text", 2)])
    print("M-RoPE ids, text(3) + image grid 4x6 (merged 2x3) + text(2):")
    for name, row in zip("thw", pos.tolist()):
        print(f"  {name}: {row}")
