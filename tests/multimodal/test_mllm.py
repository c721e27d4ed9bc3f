"""Token budgets and projector size vs hand counts and a real nn.Sequential; pixel-shuffle merge vs
torch.nn.functional.pixel_unshuffle and Hugging Face InternVL; M-RoPE ids vs Hugging Face Qwen2-VL / Qwen2.5-VL get_rope_index and hand grids."""
import warnings

import pytest
import torch
import torch.nn.functional as F

from snippets import load

mm = load("multimodal/mllm")


# ---------- token budgets (hand-computed numbers) ----------

def test_token_budgets_by_hand():
    assert mm.vit_tokens(336, 336, 14) == 576                  # 24 x 24, LLaVA-1.5
    assert mm.vit_tokens(336, 336) == 576                      # the default patch is 14 (CLIP ViT-L/14)
    assert mm.vit_tokens(224, 224, 14) == 256                  # 16 x 16
    assert mm.vit_tokens(448, 448, 14) == 1024                 # 32 x 32, one InternVL tile
    assert mm.vit_tokens(448, 448, 14, merge=2) == 256         # pixel shuffle r = 2: 1024 / 4
    assert mm.vit_tokens(224, 224, 14, merge=2) == 64          # Qwen2-VL: 64 (+2 special = 66)
    assert mm.vit_tokens(1344, 896, 14, merge=2) == 48 * 32    # 96 x 64 patches -> 48 x 32
    assert mm.anyres_tokens(2, 2) == 5 * 576 == 2880           # 672 x 672: 4 tiles + thumbnail
    assert mm.anyres_tokens(1, 4) == 2880                      # 336 x 1344
    assert mm.anyres_tokens(2, 3, tile=448, merge=2) == 7 * 256
    assert mm.anyres_tokens(2, 2, thumbnail=False) == 2304
    # 10 s at 2 fps = 20 frames -> 10 temporal patches x (24/2)^2 = 10 x 144
    assert mm.video_tokens(10, 2, 336, 336) == 1440
    # one minute at 1 fps, 448 x 448: 30 temporal patches x 256
    assert mm.video_tokens(60, 1, 448, 448) == 7680
    # one hour: 2 fps at 448 px -> 3600 x 256; 0.5 fps at 224 px -> 900 x 64
    assert mm.video_tokens(3600, 2, 448, 448) == 921_600
    assert mm.video_tokens(3600, 0.5, 224, 224) == 57_600
    # token counts are ints (sequence lengths, tensor sizes), not floats like 576.0
    assert {type(mm.vit_tokens(1344, 896, 14, merge=2)), type(mm.anyres_tokens(2, 2)),
            type(mm.video_tokens(10, 2, 336, 336))} == {int}


def test_token_budget_rejects_ragged_sides():
    sides = r"^image sides must be multiples of patch \* merge$"
    with pytest.raises(ValueError, match=sides):
        mm.vit_tokens(340, 336, 14)
    with pytest.raises(ValueError, match=sides):
        mm.vit_tokens(14 * 3, 14 * 4, 14, merge=2)     # 3 x 4 patches cannot be merged 2 x 2
    with pytest.raises(ValueError, match=sides):
        mm.vit_tokens(14 * 4, 14 * 3, 14, merge=2)     # 4 x 3: the width against patch * merge too
    with pytest.raises(ValueError, match=r"^number of frames must be a multiple of temporal_patch$"):
        mm.video_tokens(1.5, 2, 336, 336)               # 3 frames, temporal patch 2
    with pytest.raises(ValueError, match=sides):
        mm.vit_tokens(336, 340, 14)                     # the width is checked too
    with pytest.raises(ValueError, match="audio"):
        mm.mrope_position_ids([("text", 2), ("audio", 5)])


def test_video_frame_count_survives_floating_point():
    # 2.32 s x 25 fps = 57.99999999999999 in floating point: still 58 frames = 29 temporal patches
    assert mm.video_tokens(2.32, 25, 336, 336) == 29 * 144


# ---------- pixel shuffle ----------

def test_pixel_shuffle_hand_example():
    # 2 x 2 grid of 1-channel tokens [[a, b], [c, d]] -> one token [a, b, c, d]
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    torch.testing.assert_close(mm.pixel_shuffle_merge(x), torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]]))


@pytest.mark.parametrize("shape", [(1, 4, 6, 2), (1, 6, 4, 2)])
def test_pixel_shuffle_rejects_a_side_not_divisible_by_r(shape):
    # one side divisible by r = 4, the other not: a ValueError naming the cause, whichever side it is
    # (without the check the reshape fails with a RuntimeError about the element count)
    with pytest.raises(ValueError, match=r"^H and W must be divisible by r$"):
        mm.pixel_shuffle_merge(torch.zeros(shape), r=4)


def test_pixel_shuffle_equals_torch_pixel_unshuffle_up_to_channel_order():
    torch.manual_seed(0)
    b, h, w, c, r = 2, 6, 4, 5, 2                       # non-square grid, C != r*r
    x = torch.randn(b, h, w, c)
    ours = mm.pixel_shuffle_merge(x, r)                 # channel index (di, dj, c)
    # torch works on (b, C, H, W) and orders output channels as (c, di, dj)
    ref = F.pixel_unshuffle(x.permute(0, 3, 1, 2), r)   # (b, C*r*r, H/r, W/r)
    ref = ref.reshape(b, c, r, r, h // r, w // r).permute(0, 4, 5, 2, 3, 1).reshape(b, h // r, w // r, r * r * c)
    torch.testing.assert_close(ours, ref)
    # and the layouts really differ: a plain permute of torch's output is NOT our layout
    plain = F.pixel_unshuffle(x.permute(0, 3, 1, 2), r).permute(0, 2, 3, 1)
    assert not torch.allclose(ours, plain)


def test_pixel_shuffle_matches_hf_internvl():
    from transformers import InternVLConfig
    from transformers.models.internvl.modeling_internvl import InternVLModel

    cfg = InternVLConfig(
        vision_config=dict(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                           image_size=[28, 28], patch_size=[14, 14]),
        text_config=dict(model_type="qwen2", hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, vocab_size=64),
    )
    model = InternVLModel(cfg)
    torch.manual_seed(1)
    x = torch.randn(3, 8, 8, 6)                         # square grid, as InternVL tiles are
    ref = model.pixel_shuffle(x, scale_factor=cfg.downsample_ratio)   # downsample_ratio 0.5
    torch.testing.assert_close(mm.pixel_shuffle_merge(x, 2), ref)


# ---------- M-RoPE ----------

@pytest.fixture(scope="module")
def qwen2vl():
    from transformers import Qwen2VLConfig
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VLModel

    cfg = Qwen2VLConfig(
        text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, vocab_size=100,
                         rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]}),
        vision_config=dict(depth=1, embed_dim=16, hidden_size=16, num_heads=2, mlp_ratio=2,
                           spatial_merge_size=2, patch_size=14),
    )
    return Qwen2VLModel(cfg)


def hf_positions(model, segments, **kw):
    """Build input_ids / mm_token_type_ids for the segments and call get_rope_index."""
    ids, types, grids = [], [], []
    for kind, value in segments:
        if kind == "text":
            ids += [5] * value
            types += [0] * value
        else:
            t, h, w = value
            n = t * (h // 2) * (w // 2)
            ids += [50] * n
            types += [1] * n
            grids.append(list(value))
    pos, _ = model.get_rope_index(torch.tensor([ids]), torch.tensor([types]),
                                  image_grid_thw=torch.tensor(grids), **kw)
    return pos[:, 0]


@pytest.mark.parametrize("segments", [
    [("text", 3), ("vision", (1, 4, 6)), ("text", 2)],                       # text, image, text
    [("text", 1), ("vision", (1, 8, 4)), ("text", 4), ("vision", (1, 2, 2)), ("text", 3)],
    [("vision", (1, 6, 6)), ("text", 5)],                                    # image first
])
def test_mrope_matches_hf_qwen2vl(qwen2vl, segments):
    torch.testing.assert_close(mm.mrope_position_ids(segments), hf_positions(qwen2vl, segments))


def test_mrope_hand_grid_text_image_text():
    # 3 text tokens, a 4 x 6 patch grid merged to 2 x 3, then 2 text tokens.
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # e.g. torch.meshgrid without indexing= warns (to become an error)
        pos = mm.mrope_position_ids([("text", 3), ("vision", (1, 4, 6)), ("text", 2)])
    expected = torch.tensor([
        [0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7],   # temporal: constant over the image
        [0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7],   # height: row index + 3
        [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7],   # width: column index + 3
    ])
    torch.testing.assert_close(pos, expected)
    # text after the image resumes at max id + 1 = 3 + max(2, 3) = 6, not at 3 + 6 tokens = 9
    assert pos[0, 9].item() == 6


def test_mrope_video_hand_grid_with_absolute_time():
    # Text 2, video grid (t=3, h=4, w=4) -> 3 x 2 x 2 tokens, temporal step 2 (e.g. Qwen2.5-VL with
    # tokens_per_second = 4 and 0.5 s per temporal patch), then text 1.
    pos = mm.mrope_position_ids([("text", 2), ("vision", (3, 4, 4)), ("text", 1)], temporal_step=2.0)
    t = [0, 1] + [2] * 4 + [4] * 4 + [6] * 4 + [7]
    h = [0, 1] + [2, 2, 3, 3] * 3 + [7]
    w = [0, 1] + [2, 3, 2, 3] * 3 + [7]
    torch.testing.assert_close(pos, torch.tensor([t, h, w]))


def test_mrope_video_vision_ids_match_hf_qwen25vl():
    from transformers import Qwen2_5_VLConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

    cfg = Qwen2_5_VLConfig(
        text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, vocab_size=100,
                         rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]}),
        vision_config=dict(depth=1, hidden_size=16, out_hidden_size=16, intermediate_size=32, num_heads=2,
                           spatial_merge_size=2, patch_size=14, fullatt_block_indexes=[0]),
    )
    model = Qwen2_5_VLModel(cfg)
    tps = cfg.vision_config.tokens_per_second
    ids = torch.tensor([[5, 5] + [60] * 12 + [5]])
    types = torch.tensor([[0, 0] + [2] * 12 + [0]])
    for sec in (1.0, 0.5, 0.4):                          # 0.4 s: a fractional step, ids are floored
        ref, _ = model.get_rope_index(ids, types, video_grid_thw=torch.tensor([[3, 4, 4]]),
                                      second_per_grid_ts=torch.tensor([sec]))
        ours = mm.mrope_position_ids([("text", 2), ("vision", (3, 4, 4)), ("text", 1)],
                                     temporal_step=tps * sec)
        # text before and the video block itself agree; the text after a video follows the
        # original release (max id + 1), which the installed version computes differently.
        torch.testing.assert_close(ours[:, :14], ref[:, 0, :14])


def test_mrope_short_video_matches_hf_qwen2vl(qwen2vl):
    # Video grid (t=2, h=4, w=6) -> 2 x 2 x 3 tokens; with t <= merged side the installed
    # implementation and the max-id + 1 rule agree, so the whole sequence can be compared.
    ids = torch.tensor([[5, 5, 5] + [60] * 12 + [5, 5]])
    types = torch.tensor([[0, 0, 0] + [2] * 12 + [0, 0]])
    ref, _ = qwen2vl.get_rope_index(ids, types, video_grid_thw=torch.tensor([[2, 4, 6]]))
    ours = mm.mrope_position_ids([("text", 3), ("vision", (2, 4, 6)), ("text", 2)])
    torch.testing.assert_close(ours, ref[:, 0])
    assert ours[0, 3:15].tolist() == [3] * 6 + [4] * 6        # temporal id steps once per 2-frame group


# ---------- training-stage cost ----------

@pytest.mark.parametrize("d_vision, d_llm, expected", [(1024, 4096, 20_979_712), (1024, 5120, 31_467_520)])
def test_projector_params_match_an_actual_mlp(d_vision, d_llm, expected):
    from torch import nn

    with torch.device("meta"):                         # count parameters without allocating them
        mlp = nn.Sequential(nn.Linear(d_vision, d_llm), nn.GELU(), nn.Linear(d_llm, d_llm))
    assert sum(p.numel() for p in mlp.parameters()) == mm.mlp_projector_params(d_vision, d_llm) == expected
    # a different hidden width must change the count (the hidden size is not silently d_llm)
    assert mm.mlp_projector_params(1024, 4096, hidden=2048) == 1024 * 2048 + 2048 + 2048 * 4096 + 4096


def test_adam_state_by_hand():
    # LLaVA-1.5-7B stage 1: only the projector trains; stage 2: LLaMA-7B's 6,738,415,616 parameters too
    assert mm.adam_state_gb(20_979_712) == pytest.approx(0.3357, abs=1e-4)
    stage2 = mm.adam_state_gb(6_738_415_616 + 20_979_712)
    assert stage2 == pytest.approx(108.15, abs=0.01)
    assert stage2 / 8 == pytest.approx(13.52, abs=0.01)           # ZeRO-3 over one 8-GPU node
    assert mm.adam_state_gb(10**9, bytes_per_param=2 + 2 + 4 + 4 + 4) == 16.0
