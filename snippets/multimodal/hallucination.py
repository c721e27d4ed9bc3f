"""Multimodal object hallucination: CHAIR, POPE metrics and visual contrastive decoding (VCD).

Pages: docs/multimodal/hallucination.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:chair]
def chair(mentions: list[list[str]], gt_objects: list[set[str]]) -> tuple[float, float]:
    """CHAIR (Rohrbach et al., 2018) for a set of generated captions.

    mentions[k]: object mentions found in caption k, already mapped to canonical object
    names (synonyms, plurals); every mention counts, as in the reference chair.py.
    gt_objects[k]: objects annotated in image k.
    Returns (CHAIR_i, CHAIR_s):
      CHAIR_i = hallucinated mentions / all mentions
      CHAIR_s = captions with >= 1 hallucinated mention / all captions
    """
    n_mentions = n_halluc = n_bad_caps = 0
    for objs, gt in zip(mentions, gt_objects, strict=True):
        bad = [o for o in objs if o not in gt]
        n_mentions += len(objs)
        n_halluc += len(bad)
        n_bad_caps += bool(bad)
    chair_i = n_halluc / n_mentions if n_mentions else 0.0
    return chair_i, n_bad_caps / len(mentions)
# --8<-- [end:chair]


# --8<-- [start:pope]
def parse_yes_no(answer: str) -> int:
    """Map a free-form answer to 1 (yes) / 0 (no): 'no' or 'not' as a word means no."""
    words = answer.lower().replace(",", " ").replace(".", " ").split()
    return 0 if ("no" in words or "not" in words) else 1


def pope_metrics(pred: list[int], label: list[int]) -> dict[str, float]:
    """POPE scores with "yes" (object present) as the positive class."""
    tp = sum(p == 1 and y == 1 for p, y in zip(pred, label, strict=True))
    fp = sum(p == 1 and y == 0 for p, y in zip(pred, label))
    fn = sum(p == 0 and y == 1 for p, y in zip(pred, label))
    n = len(label)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    acc = sum(p == y for p, y in zip(pred, label)) / n
    return {"accuracy": acc, "precision": precision, "recall": recall, "f1": f1,
            "yes_ratio": sum(pred) / n}
# --8<-- [end:pope]


# --8<-- [start:vcd]
def vcd_logits(logits: torch.Tensor, logits_distorted: torch.Tensor,
               alpha: float = 1.0, beta: float = 0.1) -> torch.Tensor:
    """Visual contrastive decoding for one step. logits, logits_distorted: (..., vocab).

    logits come from the real image v, logits_distorted from a noised copy v'.
    Contrast: (1 + alpha) * logit(y | v, x) - alpha * logit(y | v', x).
    Adaptive plausibility: keep only tokens with p(y | v, x) >= beta * max_w p(w | v, x);
    the rest get -inf so the contrast cannot promote them. Sample / argmax from the result.
    """
    probs = logits.softmax(dim=-1)
    keep = probs >= beta * probs.max(dim=-1, keepdim=True).values
    contrast = (1 + alpha) * logits - alpha * logits_distorted
    return contrast.masked_fill(~keep, float("-inf"))
# --8<-- [end:vcd]


if __name__ == "__main__":
    caps = [["dog", "frisbee", "person"], ["dog", "bench"], ["cat"]]
    gts = [{"dog", "frisbee"}, {"dog", "bench", "tree"}, {"cat", "sofa"}]
    ci, cs = chair(caps, gts)
    print(f"CHAIR_i = {ci:.3f} (1 of 6 mentions), CHAIR_s = {cs:.3f} (1 of 3 captions)")
    answers = ["Yes, there is.", "No.", "yes", "There is not a car.", "Yes"]
    pred = [parse_yes_no(a) for a in answers]
    print("POPE:", {k: round(v, 3) for k, v in pope_metrics(pred, [1, 0, 0, 1, 1]).items()})
    lo = torch.tensor([2.0, 1.5, 0.0, -3.0])
    ld = torch.tensor([2.0, 0.5, 0.5, -10.0])
    print("greedy: plain", lo.argmax().item(), "| contrast without mask", (2 * lo - ld).argmax().item(),
          "| VCD", vcd_logits(lo, ld).argmax().item())
