"""Vocabulary expansion (closed forms and invariants, HF tokenizers) and ChatML vs transformers' chat template."""
import json

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from snippets import load

lt = load("tokenizer/llm_tokenizers")
bpe = load("tokenizer/bpe")

SAMPLE_ZH = ["扩充词表以后，中文文本的词元数明显减少。", "模型读取的是词元，不是汉字。"]
SAMPLE_EN = ["the tokenizer never produces unknown tokens", "a bigger embedding table"]


def test_english_only_bpe_spends_one_token_per_utf8_byte_on_chinese():
    base = bpe.train_bpe(lt.EN_CORPUS, 256 + 150)
    n_bytes = sum(len(t.encode("utf-8")) for t in SAMPLE_ZH)
    assert lt.count_tokens(SAMPLE_ZH, base) == n_bytes
    # Same closed form with a byte-level BPE trained by HF tokenizers on the English corpus.
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(lt.EN_CORPUS, trainers.BpeTrainer(
        vocab_size=256 + 150, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    assert sum(len(tok.encode(t).tokens) for t in SAMPLE_ZH) == n_bytes
    # CJK characters are 3 bytes each in UTF-8; the two full-width punctuation marks too.
    assert n_bytes == 3 * sum(len(t) for t in SAMPLE_ZH)


def test_expansion_shortens_chinese_keeps_english_and_old_merges():
    base = bpe.train_bpe(lt.EN_CORPUS, 256 + 150)
    counts = []
    for n_new in (50, 150):
        merges = lt.expand_merges(base, lt.ZH_CORPUS, n_new)
        assert merges[:len(base)] == base                      # old ranks (and ids) unchanged
        assert all(bpe.encode(t, merges) == bpe.encode(t, base) for t in SAMPLE_EN)
        assert all(bpe.decode(bpe.encode(t, merges)) == t for t in SAMPLE_ZH)
        counts.append(lt.count_tokens(SAMPLE_ZH, merges))
    n_bytes = sum(len(t.encode("utf-8")) for t in SAMPLE_ZH)
    assert n_bytes > counts[0] > counts[1]
    assert counts[1] < 0.6 * n_bytes                             # measured: well under 2 tokens/char


def test_expansion_on_overlapping_corpus_appends_only_missing_merges():
    # new-domain text that shares English with the base corpus: merges the base already has are not
    # appended again (a duplicate pair would get a second, later rank). Oracle for the learned merges:
    # HF tokenizers' BpeTrainer with the same settings (test_bpe checks the two agree).
    base = bpe.train_bpe(lt.EN_CORPUS, 256 + 150)
    mixed = lt.EN_CORPUS + lt.ZH_CORPUS
    for n_new in (40, 120):
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.train_from_iterator(mixed, trainers.BpeTrainer(
            vocab_size=256 + n_new, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=[], show_progress=False))
        hf_learned = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
                      for m in json.loads(tok.to_str())["model"]["merges"]]
        assert len(hf_learned) == n_new                              # n_new merges learned, then filtered
        merges = lt.expand_merges(base, mixed, n_new)
        shared = [m for m in hf_learned if m in set(base)]
        assert shared                                                # the corpora do overlap
        assert merges == base + [m for m in hf_learned if m not in set(base)]
        assert len(set(merges)) == len(merges)


CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _hf_chat_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(lt.EN_CORPUS, trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=CHATML_TEMPLATE,
                                   eos_token="<|im_end|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"])


def test_chatml_matches_transformers_apply_chat_template():
    hf = _hf_chat_tokenizer()
    messages = [{"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "你好，介绍一下 BPE"},
                {"role": "assistant", "content": "BPE merges frequent pairs."},
                {"role": "user", "content": "and WordPiece?"}]
    for gen in (True, False):
        ref = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
        assert lt.render_chatml(messages, add_generation_prompt=gen) == ref
    # by default the prompt ends with an open assistant turn (what a chat model is asked to complete)
    assert lt.render_chatml(messages) == hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def test_special_tokens_are_single_ids_and_never_split():
    hf = _hf_chat_tokenizer()
    ids = hf.encode(lt.render_chatml([{"role": "user", "content": "hi"}]), add_special_tokens=False)
    start, end = hf.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    assert ids.count(start) == 2 and ids.count(end) == 1
    # The same characters typed by a user are split into ordinary tokens if split_special_tokens=True.
    plain = hf.encode("<|im_end|>", add_special_tokens=False, split_special_tokens=True)
    assert end not in plain and len(plain) > 1
