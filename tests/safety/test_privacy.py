"""Tests for snippets/safety/privacy.py: hand-labelled positive and negative cases,
and the ID check digit computed by hand from the GB 11643-1999 weights."""
import math

import pytest

from snippets import load

pv = load("safety/privacy")


def check_digit_by_hand(first17: str) -> str:
    # weight of position i (1-based from the left, 18 positions) is 2^(18-i) mod 11
    s = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(first17))
    value = (12 - s % 11) % 11
    return "X" if value == 10 else str(value)


@pytest.mark.parametrize("first17", ["11010519491231002", "44030419900101123", "31011520001229456"])
def test_id_checksum_agrees_with_hand_formula(first17):
    good = first17 + check_digit_by_hand(first17)
    assert pv.cn_id_checksum_ok(good)
    bad_digit = "0" if good[-1] != "0" else "1"
    assert not pv.cn_id_checksum_ok(first17 + bad_digit)


POSITIVE = [
    ("邮箱 zhang.san@example.com.cn 谢谢", "EMAIL"),
    ("mail a.b+tag@mail.example.org now", "EMAIL"),
    ("手机13800138000", "PHONE"),
    ("手机 138 0013 8000", "PHONE"),
    ("tel +86-139-1234-5678", "PHONE"),
    ("tel 0086 13912345678", "PHONE"),
    ("London +44 20 7946 0958", "PHONE"),
    ("身份证11010519491231002X。", "ID"),
    ("id 11010519491231002x", "ID"),
]


@pytest.mark.parametrize("text,kind", POSITIVE)
def test_positive_cases_are_redacted(text, kind):
    red, counts = pv.redact_pii(text)
    assert f"[{kind}]" in red and counts[kind] == 1
    assert sum(counts.values()) == 1


NEGATIVE = [
    "订单号 110105194912310021",                     # ID shape but wrong check digit
    "tracking 13800138000123",                      # 11-digit mobile shape inside a longer number
    "version 1.3.8 and build 12345678901",          # starts with 12: not a mainland mobile prefix
    "user@localhost has no TLD",
    "price 1,380,013,800 yuan",
    "date 2024-05-01 time 13:45",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_negative_cases_are_left_alone(text):
    red, counts = pv.redact_pii(text)
    assert red == text and sum(counts.values()) == 0


def test_mixed_text_counts_every_instance():
    id_ = "11010519491231002" + check_digit_by_hand("11010519491231002")
    text = f"call 13800138000 or +44 20 7946 0958, mail a@example.com, id {id_}, again 139-1234-5678"
    red, counts = pv.redact_pii(text)
    assert red == "call [PHONE] or [PHONE], mail [EMAIL], id [ID], again [PHONE]"
    assert counts == {"ID": 1, "EMAIL": 1, "PHONE": 3}
    id2 = "44030419900101123" + check_digit_by_hand("44030419900101123")
    red, counts = pv.redact_pii(f"{id_} and {id2}; mails a@example.com, b@example.org")
    assert red == "[ID] and [ID]; mails [EMAIL], [EMAIL]" and counts == {"ID": 2, "EMAIL": 2, "PHONE": 0}


def test_numeric_email_is_one_email_not_a_phone():
    # QQ mail addresses are often a mobile number: e-mails are redacted before phones
    assert pv.redact_pii("mail 13800138000@qq.com") == ("mail [EMAIL]", {"ID": 0, "EMAIL": 1, "PHONE": 0})


@pytest.mark.parametrize("date", ["19900001", "19901301", "19901900", "19900100", "19900132"])
def test_id_shape_with_an_impossible_date_is_not_an_id(date):
    # month 00, 13, 19 or day 00, 32: not a birth date, even with a valid check digit
    first17 = "110105" + date + "123"
    red, counts = pv.redact_pii("no " + first17 + check_digit_by_hand(first17))
    assert counts["ID"] == 0


def test_known_miss_is_documented():
    # Rules miss PII written in words or obfuscated; this is why NER models are used on top.
    red, counts = pv.redact_pii("my number is one three eight, zero zero one three, eight zero zero zero")
    assert sum(counts.values()) == 0


# --- span scoring and keyed pseudonyms. Oracles: hand-counted spans, the hmac module computed
# directly in the test, and a brute-force inversion that works on an unkeyed hash but not on the keyed one.
import hashlib
import hmac


def test_span_scores_by_hand():
    gold = {(0, 11, "PHONE"), (20, 38, "ID"), (40, 55, "EMAIL"), (60, 71, "PHONE")}
    pred = {(0, 11, "PHONE"), (20, 38, "ID"), (80, 91, "PHONE"), (60, 70, "PHONE")}   # (60,70) off by one
    s = pv.span_scores(pred, gold)
    assert s["PHONE"] == (1 / 3, 1 / 2)        # 1 exact hit of 3 predicted, of 2 gold
    assert s["ID"] == (1.0, 1.0)
    assert s["EMAIL"] == (1.0, 0.0)            # nothing predicted: precision 1, recall 0
    assert pv.span_scores(gold, gold) == {k: (1.0, 1.0) for k in ("PHONE", "ID", "EMAIL")}
    # a type that only the detector produced: every prediction is wrong, nothing of it was missed
    assert pv.span_scores({(0, 4, "NAME")}, set()) == {"NAME": (0.0, 1.0)}


def test_pseudonym_is_keyed_hmac_and_deterministic():
    key = b"k1"
    ref = hmac.new(key, b"PHONE:13800138000", hashlib.sha256).hexdigest()[:10]
    assert pv.pseudonym("13800138000", "PHONE", key) == f"[PHONE_{ref}]"
    assert pv.pseudonym("13800138000", "PHONE", key) == pv.pseudonym("13800138000", "PHONE", key)
    assert pv.pseudonym("13800138000", "PHONE", key) != pv.pseudonym("13800138000", "PHONE", b"k2")
    assert pv.pseudonym("13800138000", "PHONE", key) != pv.pseudonym("13800138001", "PHONE", key)


def test_unkeyed_hash_of_a_small_space_is_reversible():
    # 4-digit "numbers" stand in for the ~7e9 mobile numbers: enumeration inverts a plain hash at once
    secret = "4711"
    plain = hashlib.sha256(secret.encode()).hexdigest()
    assert next(c for c in (f"{i:04d}" for i in range(10_000))
                if hashlib.sha256(c.encode()).hexdigest() == plain) == secret
    # the keyed pseudonym cannot be matched by enumeration without the key
    target = pv.pseudonym(secret, "PHONE", b"secret-key")
    assert all(pv.pseudonym(f"{i:04d}", "PHONE", b"guessed-key") != target for i in range(10_000))


# --- issue 22: DP fine-tuning cost and canary exposure --------------------------------------------

def test_lora_param_count_by_hand_and_against_peft():
    # LLaMA-7B shapes, r = 16, all seven projections:
    # attention 4 * 16 * (4096 + 4096) = 524,288; MLP 3 * 16 * (4096 + 11008) = 724,992; x 32 layers
    assert pv.lora_param_count(4096, 11008, 32, 16) == 32 * (524_288 + 724_992) == 39_976_960
    assert pv.lora_param_count(4096, 11008, 32, 8, ("q", "v")) == 32 * 2 * 8 * 8192
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=4, vocab_size=100)
    model = get_peft_model(LlamaForCausalLM(cfg), LoraConfig(r=4, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == pv.lora_param_count(64, 160, 2, 4)


def test_per_sample_grad_memory_by_hand():
    # 39,976,960 params x 32 examples x 4 bytes = 5.117 GB
    assert abs(pv.per_sample_grad_gb(39_976_960, 32) - 5.117) < 1e-3
    assert pv.per_sample_grad_gb(1_000_000_000, 1, bytes_per_value=2) == 2.0


def test_canary_exposure_by_hand():
    # Secret Sharer: exposure = log2 |R| - log2 rank; a 9-digit number has |R| = 10^9
    assert abs(pv.canary_exposure(1, 10 ** 9) - 9 * math.log2(10)) < 1e-12
    assert pv.canary_exposure(2 ** 10, 2 ** 30) == 20.0
    assert pv.canary_exposure(2 ** 30, 2 ** 30) == 0.0          # ranked last: nothing leaked
