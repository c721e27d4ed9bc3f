"""Tests for snippets/fine-tuning/domain_adaptation.py with hand-made overlaps."""
from snippets import load

da = load("fine-tuning/domain_adaptation")


def test_ngrams_count():
    toks = "a b c d e".split()
    assert da.ngrams(toks, 3) == {("a", "b", "c"), ("b", "c", "d"), ("c", "d", "e")}
    assert len(da.ngrams(toks, 6)) == 0


def test_contamination_flags_by_hand():
    train = ["the patient was given 5 mg of drug x daily for two weeks".split()]
    evals = [
        "was given 5 mg of drug".split(),                  # 6 tokens, shares 4-grams
        "the doctor prescribed something else entirely".split(),
        "drug x".split(),                                  # shorter than n, occurs verbatim
        "drug y".split(),                                  # shorter than n, absent
    ]
    assert da.contaminated(evals, train, n=4) == [True, False, True, False]
    # With n = 7 the first item (6 tokens) must occur verbatim — it does.
    assert da.contaminated(evals[:1], train, n=7) == [True]
    # A 7-token item whose 7-gram is not in the document is clean at n = 7 but dirty at n = 3.
    item = ["given", "5", "mg", "of", "drug", "z", "daily"]
    assert da.contaminated([item], train, n=7) == [False]
    assert da.contaminated([item], train, n=3) == [True]
