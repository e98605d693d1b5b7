"""The metric arithmetic on hand-made embeddings, against numbers worked out by hand.

Unit vectors in 2-D make every cosine obvious: cos((1,0),(0,1)) = 0,
cos((1,0),(1,1)/sqrt2) = 1/sqrt2.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmark.metrics import aggregate, similarity
from benchmark.metrics.statistics import macro_estimate

S = 1 / math.sqrt(2)
X, Y, D = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([S, S])


def test_identical_embeddings_score_one_whatever_their_scale():
    g = np.stack([X * 3, X])
    assert similarity.all_pairs_mean(g, np.stack([X, X * 0.5])) == pytest.approx(1.0)
    assert similarity.rowwise_cosine(np.stack([D, Y]), np.stack([D * 7, Y])) == pytest.approx([1.0, 1.0])


def test_fidelity_averages_all_generated_real_pairs_not_one_to_one():
    generated, real = np.stack([X, D]), np.stack([X, Y])
    # pairs: (X,X)=1, (X,Y)=0, (D,X)=S, (D,Y)=S
    all_pairs = (1 + 0 + S + S) / 4
    # (X,X) and (D,Y) only: the mistake this guards against
    one_to_one = (1 + S) / 2
    assert similarity.all_pairs_mean(generated, real) == pytest.approx(all_pairs)
    assert similarity.all_pairs_mean(generated, real) != pytest.approx(one_to_one)
    # each generated image's own score is its mean over ALL real images; they average to the same number
    per_image = similarity.per_generated_fidelity(generated, real)
    assert per_image == pytest.approx([0.5, S])
    assert per_image.mean() == pytest.approx(all_pairs)


def test_swapping_generated_and_real_changes_the_result():
    generated, real = np.stack([X, D]), np.stack([X, Y])
    # right way round: per generated image [0.5, S]; the oracle comes from the REAL images: cos(X, Y) = 0
    assert similarity.per_generated_fidelity(generated, real) == pytest.approx([0.5, S])
    assert similarity.oracle_mean(real) == pytest.approx(0.0)
    # swapped: per "generated" image [(1+S)/2, S/2] and the oracle would be cos(X, D) = S
    assert similarity.per_generated_fidelity(real, generated) == pytest.approx([(1 + S) / 2, S / 2])
    assert similarity.oracle_mean(generated) == pytest.approx(S)
    # so the copy flag flips: subject mean (1+2S)/4 = 0.60 is above the true oracle 0, below the swapped one
    subject_mean = similarity.all_pairs_mean(generated, real)
    assert subject_mean > similarity.oracle_mean(real)
    assert subject_mean < similarity.oracle_mean(generated)


def test_oracle_excludes_self_pairs():
    real = np.stack([X, Y, D])
    # distinct pairs: (X,Y)=0, (X,D)=S, (Y,D)=S -> 2S/3; with self-pairs it would be (3 + 4S)/9
    assert similarity.oracle_mean(real) == pytest.approx(2 * S / 3)
    assert similarity.oracle_mean(real) != pytest.approx((3 + 4 * S) / 9)
    assert similarity.per_real_oracle(real) == pytest.approx([S / 2, S / 2, S])
    # one real image: no distinct pair
    assert math.isnan(similarity.oracle_mean(np.stack([X])))


def _rows(subject_values: dict[str, list[float]], metric: str = "dino", prompts: dict | None = None) -> pd.DataFrame:
    records = []
    for subject, values in subject_values.items():
        for i, value in enumerate(values):
            prompt = prompts[subject][i] if prompts else 0
            records.append(
                {"subject": subject, "kind": "object", "prompt_index": prompt, "category": "recontextualization"}
                | {"image_index": i, "prior": False, metric: value}
            )
    return pd.DataFrame.from_records(records)


def test_macro_mean_over_subjects_with_unequal_real_and_image_counts():
    # subject a: 2 real images (X, Y), 2 generated images X -> each scores (1 + 0) / 2 = 0.5
    # subject b: 4 real images (X, X, X, Y), 1 generated image X -> (1 + 1 + 1 + 0) / 4 = 0.75
    a = similarity.per_generated_fidelity(np.stack([X, X]), np.stack([X, Y]))
    b = similarity.per_generated_fidelity(np.stack([X]), np.stack([X, X, X, Y]))
    assert list(a) == pytest.approx([0.5, 0.5]) and list(b) == pytest.approx([0.75])
    rows = _rows({"a": list(a), "b": list(b)})
    oracle = pd.DataFrame({"n_real": [2, 4]}, index=pd.Index(["a", "b"], name="subject"))
    table = aggregate.per_subject_table(rows, oracle, ["dino"])
    summary = aggregate.summarize(rows, table, ["dino"], n_resamples=200)["dino"]
    # macro: each subject weighs the same
    assert summary.mean == pytest.approx((0.5 + 0.75) / 2)
    # pooling all 6 (generated, real) pairs
    assert summary.mean != pytest.approx(4 / 6)
    # pooling all 3 images
    assert summary.mean != pytest.approx((0.5 + 0.5 + 0.75) / 3)
    assert (summary.n_subjects, summary.n_images) == (2, 3)
    assert table.loc["a", "n_dino"] == 2 and table.loc["b", "n_real"] == 4


def test_div_is_the_mean_pairwise_distance_per_prompt_then_per_subject():
    distances = np.array([[0.0, 0.2, 0.4], [0.2, 0.0, 0.6], [0.4, 0.6, 0.0]])
    per_image, pair_mean = similarity.pairwise_distance_means(distances)
    assert per_image == pytest.approx([0.3, 0.4, 0.5]) and pair_mean == pytest.approx(0.4)
    # prompt 0: 3 images (DIV 0.4); prompt 1: 2 images at distance 0.8 -> subject DIV (0.4 + 0.8) / 2,
    # not the image-weighted (0.3 + 0.4 + 0.5 + 0.8 + 0.8) / 5
    rows = _rows({"s": [0.3, 0.4, 0.5, 0.8, 0.8]}, "div", {"s": [0, 0, 0, 1, 1]})
    table = aggregate.per_subject_table(rows, pd.DataFrame(index=pd.Index(["s"], name="subject")), ["div"])
    assert table.loc["s", "div"] == pytest.approx(0.6)


def test_copy_flags_name_subjects_above_their_oracle_only():
    table = pd.DataFrame(
        {"dino": [0.9, 0.5], "oracle-dino": [0.8, 0.8], "clip-i": [0.7, 0.95], "oracle-clip-i": [0.9, 0.9]},
        index=pd.Index(["copycat", "honest"], name="subject"),
    )
    flags = {(f["subject"], f["metric"]) for f in aggregate.copy_flags(table)}
    assert flags == {("copycat", "dino"), ("honest", "clip-i")}


def test_split_means_are_macro_over_the_subjects_in_the_split():
    rows = _rows({"cat": [0.2, 0.4], "dog": [0.6], "can": [0.9]})
    rows["kind"] = ["live", "live", "live", "object"]
    out = aggregate.splits(rows, ["dino"], n_resamples=200)
    assert out["kind"]["live"]["dino"].mean == pytest.approx((0.3 + 0.6) / 2)
    assert out["kind"]["live"]["dino"].n_images == 3
    assert out["kind"]["object"]["dino"].mean == pytest.approx(0.9)
    # a subject with no scorable image is skipped
    assert macro_estimate([np.nan, 0.5], 1).n_subjects == 1
