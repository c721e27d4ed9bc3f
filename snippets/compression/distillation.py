"""Knowledge distillation losses: Hinton's temperature-scaled KD (with the T^2 factor),
token-level KD for language models, and forward vs reverse KL.

Pages: docs/compression/distillation.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:kd_loss]
def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            temperature: float = 2.0, alpha: float = 0.5) -> torch.Tensor:
    """alpha * T^2 * KL(p_teacher^T || p_student^T) + (1 - alpha) * CE(student, labels).

    logits: (batch, classes); labels: (batch,). Both KL and CE are averaged over the batch.
    The T^2 factor keeps the soft-target gradient on the same scale as the hard-label gradient
    when T changes (the gradient of the KL term alone shrinks like 1/T^2 for large T).
    """
    t = temperature
    log_p_s = torch.log_softmax(student_logits / t, dim=-1)
    log_p_t = torch.log_softmax(teacher_logits / t, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean()        # teacher is the target
    ce = -torch.log_softmax(student_logits, dim=-1).gather(-1, labels.unsqueeze(-1)).mean()
    return alpha * t * t * kl + (1 - alpha) * ce
# --8<-- [end:kd_loss]


# --8<-- [start:token_kd]
def token_kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
                  temperature: float = 1.0, reverse: bool = False) -> torch.Tensor:
    """Token-level distillation for LMs. logits: (batch, seq, vocab); mask: (batch, seq), 1 = response.

    forward KL(p || q_theta) (reverse=False): mean-seeking, the student must cover every teacher mode;
    reverse KL(q_theta || p) (reverse=True): mode-seeking, as in MiniLLM / on-policy distillation.
    Averaged over the masked tokens; both teacher and student must share the tokenizer.
    """
    wide = torch.promote_types(torch.result_type(student_logits, teacher_logits), torch.float32)  # bf16 in: float32 loss
    student_logits, teacher_logits = student_logits.to(wide), teacher_logits.to(wide)
    log_q = torch.log_softmax(student_logits / temperature, dim=-1)
    log_p = torch.log_softmax(teacher_logits / temperature, dim=-1)
    if reverse:
        per_tok = (log_q.exp() * (log_q - log_p)).sum(-1)
    else:
        per_tok = (log_p.exp() * (log_p - log_q)).sum(-1)
    mask = mask.to(per_tok.dtype)
    return (per_tok * mask).sum() / mask.sum() * temperature ** 2
# --8<-- [end:token_kd]


# --8<-- [start:distill_cost]
def distill_flops_per_token(n_teacher: float, n_student: float, on_policy: bool) -> float:
    """Training FLOPs per response token (2N per forward token, 6N per trained token).
    Offline (teacher outputs/logits precomputed once and reused): student forward + backward = 6 N_s.
    On-policy (GKD / MiniLLM style): + the student generates the token (2 N_s, memory-bound decode)
    + the teacher scores it (2 N_t), every step, because the samples change as the student changes."""
    train = 6 * n_student
    return train + (2 * n_student + 2 * n_teacher if on_policy else 0.0)
# --8<-- [end:distill_cost]


if __name__ == "__main__":
    torch.manual_seed(0)
    s, te = torch.randn(8, 10, requires_grad=True), torch.randn(8, 10) * 3
    y = te.argmax(-1)
    for t in (1.0, 4.0, 16.0):                          # soft term only (alpha = 1)
        s.grad = None
        kd_loss(s, te, y, temperature=t, alpha=1.0).backward()
        g_with = s.grad.norm().item()
        s.grad = None
        (kd_loss(s, te, y, temperature=t, alpha=1.0) / (t * t)).backward()
        print(f"T={t:4}: soft-loss grad norm with T^2 {g_with:.4f}, without T^2 {s.grad.norm().item():.6f}")
    # forward vs reverse KL on a bimodal teacher: what each one penalises
    p = torch.tensor([[[5.0, 5.0, -5.0, -5.0]]])
    cover = torch.tensor([[[2.0, 2.0, 1.0, 1.0]]])      # spreads mass, covers both modes
    one_mode = torch.tensor([[[5.0, -5.0, -5.0, -5.0]]])  # sits on one mode
    m = torch.ones(1, 1)
    for name, q in (("cover both", cover), ("one mode", one_mode)):
        print(f"{name:10}: forward KL {token_kd_loss(q, p, m).item():.3f}, reverse KL {token_kd_loss(q, p, m, reverse=True).item():.3f}")
    on, off = distill_flops_per_token(70e9, 8e9, True), distill_flops_per_token(70e9, 8e9, False)
    print(f"70B teacher -> 8B student: on-policy {on / 1e9:.0f} GFLOP/token vs offline {off / 1e9:.0f} "
          f"({on / off:.2f}x), before counting that sampling is memory-bound")
