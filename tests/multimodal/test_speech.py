"""Frame counts vs torch.stft, Hugging Face's WhisperFeatureExtractor and a tiny WhisperEncoder;
codec bit rates vs the EnCodec / Mimi configs and the papers' numbers; RVQ vs a hand example."""
import math

import numpy as np
import pytest
import torch

from snippets import load

sp = load("multimodal/speech")


@pytest.mark.parametrize("n,hop,n_fft,center", [(16_000, 160, 400, True), (16_000, 160, 400, False),
                                                 (12_345, 128, 512, True), (12_345, 128, 512, False)])
def test_stft_frames_match_torch(n, hop, n_fft, center):
    spec = torch.stft(torch.randn(n), n_fft, hop, window=torch.hann_window(n_fft),
                      center=center, return_complex=True)
    assert spec.shape[-1] == sp.stft_frames(n, hop, n_fft, center)


def test_stft_and_conv_defaults_match_torch():
    # torch.stft centres by default; nn.Conv1d's default stride is 1 and padding 0
    assert sp.stft_frames(12_345, 128, 512) == torch.stft(torch.randn(12_345), 512, 128, window=torch.hann_window(512),
                                                          return_complex=True).shape[-1]
    assert sp.conv1d_len(17, 5) == torch.nn.Conv1d(1, 1, 5)(torch.zeros(1, 1, 17)).shape[-1] == 13
    # longer than 30 s (the function is not Whisper-only): the frame count follows the sample rate
    n = 160 * 16_000
    assert sp.whisper_encoder_len(160.0)[0] == torch.stft(torch.zeros(n), 400, 160, window=torch.hann_window(400),
                                                          return_complex=True).shape[-1] - 1 == 16_000


def test_whisper_frames_match_hf_feature_extractor():
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor()                       # defaults: 80 mels, 16 kHz, hop 160, 30 s
    feats = fe(np.zeros(16_000 * 7, dtype=np.float32), sampling_rate=16_000, return_tensors="np")
    mel, enc = sp.whisper_encoder_len(30.0)
    assert feats["input_features"].shape == (1, 80, mel) == (1, 80, 3000)   # padded to 30 s
    assert enc == 1500


def test_whisper_conv_stem_matches_hf_encoder():
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    cfg = WhisperConfig(d_model=8, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=16,
                        decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=16, vocab_size=64)
    enc = WhisperEncoder(cfg).eval()
    with torch.no_grad():
        out = enc(torch.zeros(1, cfg.num_mel_bins, 3000)).last_hidden_state
    assert out.shape[1] == sp.whisper_encoder_len(30.0)[1] == cfg.max_source_positions == 1500
    assert sp.whisper_encoder_len() == (3000, 1500)                 # the defaults are Whisper's 30 s at 16 kHz
    # the stem's own layers on short inputs, odd and even frame counts (0.05 s -> 5 frames, 0.06 s -> 6)
    for seconds in (0.05, 0.06, 0.07):
        mel, n_enc = sp.whisper_encoder_len(seconds)
        with torch.no_grad():
            y = enc.conv2(enc.conv1(torch.zeros(1, cfg.num_mel_bins, mel)))
        assert (mel, y.shape[-1]) == (round(seconds * 100), n_enc)


def test_conv1d_len_matches_torch():
    for length, k, s, p in [(3000, 3, 1, 1), (3000, 3, 2, 1), (3001, 3, 2, 1), (17, 5, 3, 0)]:
        y = torch.nn.Conv1d(1, 1, k, stride=s, padding=p)(torch.zeros(1, 1, length))
        assert y.shape[-1] == sp.conv1d_len(length, k, s, p)


def test_codec_bitrates():
    from transformers import EncodecConfig, MimiConfig

    e = EncodecConfig()                                   # the 24 kHz model
    assert e.frame_rate == 24_000 // math.prod(e.upsampling_ratios) == 75
    # EnCodec's bandwidths 1.5 / 3 / 6 / 12 / 24 kbps use 2 / 4 / 8 / 16 / 32 codebooks of 1024 entries
    for kbps, n_q in zip(e.target_bandwidths, (2, 4, 8, 16, 32)):
        assert sp.codec_bitrate(e.frame_rate, n_q, e.codebook_size) == pytest.approx(kbps * 1000)
    m = MimiConfig()
    # Moshi paper: Mimi, 12.5 Hz, 8 codebooks -> 1.1 kbps (2048 entries = 11 bits)
    assert sp.codec_bitrate(m.frame_rate, 8, m.codebook_size) == pytest.approx(1100)


def test_rvq_hand_example():
    # 1-D: x = 0.7; stage 1 codes {0, 1} -> 1 (residual -0.3); stage 2 codes {-0.25, 0.25} -> -0.25.
    x = torch.tensor([[0.7]])
    cbs = [torch.tensor([[0.0], [1.0]]), torch.tensor([[-0.25], [0.25]])]
    codes, rec = sp.rvq_encode(x, cbs)
    assert codes.tolist() == [[1, 0]]
    torch.testing.assert_close(rec, torch.tensor([[0.75]]))


def test_rvq_error_never_increases_when_codebooks_contain_zero():
    torch.manual_seed(0)
    x = torch.randn(128, 3)
    cbs = [torch.cat([torch.zeros(1, 3), torch.randn(15, 3) * s]) for s in (1.0, 0.5, 0.25, 0.1)]
    errs = [(x - sp.rvq_encode(x, cbs[:q])[1]).pow(2).sum(-1) for q in range(1, 5)]
    for a, b in zip(errs, errs[1:]):
        assert (b <= a + 1e-6).all()                    # per vector, not only on average
    assert errs[-1].mean() < 0.5 * errs[0].mean()
