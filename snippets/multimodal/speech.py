"""Speech front ends: log-Mel frame counts, a Whisper-style conv stem, codec token rates and
residual vector quantisation (RVQ).

Pages: docs/multimodal/speech.{zh,en}.md
"""
from __future__ import annotations

import math

import torch


# --8<-- [start:frames]
def stft_frames(n_samples: int, hop: int, n_fft: int, center: bool = True) -> int:
    """Frames produced by an STFT. center=True pads n_fft // 2 on both sides (torch.stft default)."""
    if center:
        return 1 + n_samples // hop
    return 1 + (n_samples - n_fft) // hop


def conv1d_len(length: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a 1-D convolution."""
    return (length + 2 * padding - kernel) // stride + 1


def whisper_encoder_len(seconds: float = 30.0, sample_rate: int = 16_000, hop: int = 160,
                        n_fft: int = 400) -> tuple[int, int]:
    """(log-Mel frames, encoder positions) for a Whisper-style front end.

    Whisper pads/trims audio to 30 s, computes a centred STFT (25 ms window = 400 samples,
    10 ms hop = 160 samples at 16 kHz) and drops the last frame, then a conv stem
    (kernel 3, stride 1) -> (kernel 3, stride 2), both with padding 1, halves the length."""
    n = int(seconds * sample_rate)
    mel = stft_frames(n, hop, n_fft, center=True) - 1
    enc = conv1d_len(conv1d_len(mel, 3, 1, 1), 3, 2, 1)
    return mel, enc
# --8<-- [end:frames]


# --8<-- [start:codec]
def codec_bitrate(frame_rate: float, n_codebooks: int, codebook_size: int) -> float:
    """Bits per second of an RVQ codec: frames/s x codebooks per frame x log2(entries)."""
    return frame_rate * n_codebooks * math.log2(codebook_size)


def rvq_encode(x: torch.Tensor, codebooks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Residual vector quantisation. x: (n, d); codebooks: list of (K, d).

    Stage q picks the nearest code to what the previous stages left over, so each extra
    codebook refines the reconstruction. Returns (codes (n, Q), reconstruction (n, d))."""
    residual, recon, codes = x.clone(), torch.zeros_like(x), []
    for cb in codebooks:
        idx = torch.cdist(residual, cb).argmin(dim=-1)     # nearest code per vector
        q = cb[idx]
        recon, residual = recon + q, residual - q
        codes.append(idx)
    return torch.stack(codes, dim=-1), recon
# --8<-- [end:codec]


if __name__ == "__main__":
    mel, enc = whisper_encoder_len()
    print(f"Whisper, 30 s of 16 kHz audio: {mel} log-Mel frames -> {enc} encoder positions "
          f"({enc / 30:.0f} per second)")
    print(f"EnCodec 24 kHz, 75 Hz, 8 x 1024-entry codebooks: {codec_bitrate(75, 8, 1024) / 1000:.1f} kbps")
    print(f"Mimi, 12.5 Hz, 8 x 2048-entry codebooks: {codec_bitrate(12.5, 8, 2048) / 1000:.2f} kbps")
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    cbs = [torch.randn(16, 4) * s for s in (1.0, 0.5, 0.25, 0.125)]
    for q in range(1, 5):
        _, rec = rvq_encode(x, cbs[:q])
        print(f"RVQ with {q} codebook(s): mean squared error {(x - rec).pow(2).mean().item():.3f}")
