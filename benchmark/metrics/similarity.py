"""The metric arithmetic, as pure functions on embedding arrays (rows = images).

Everything a published number depends on, small enough to check by hand: which
pairs are averaged, in which order, and what is excluded. DreamBooth's DINO and
CLIP-I average over ALL (generated, real) pairs of a subject, not one-to-one
pairs; the real-image oracle averages over distinct real pairs, never an image
with itself (which would add cosines of exactly 1).
"""

from __future__ import annotations

import numpy as np


def normalize_rows(x: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a_i, b_j) for every row pair: shape (len(a), len(b))."""
    return normalize_rows(a) @ normalize_rows(b).T


def per_generated_fidelity(generated: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Each generated image's mean cosine over all real images of its subject.

    The subject score is the mean of these: with every generated image paired with
    the same real set, that equals the mean over all (generated, real) pairs.
    """
    return cosine_matrix(generated, real).mean(axis=1)


def all_pairs_mean(generated: np.ndarray, real: np.ndarray) -> float:
    """Mean cosine over all (generated, real) pairs: DINO and CLIP-I for one subject."""
    return float(cosine_matrix(generated, real).mean())


def per_real_oracle(real: np.ndarray) -> np.ndarray:
    """Each real image's mean cosine over the OTHER real images of its subject (self-pairs excluded)."""
    n = len(real)
    if n < 2:
        return np.full(n, np.nan)
    sims = cosine_matrix(real, real)
    return (sims.sum(axis=1) - np.diag(sims)) / (n - 1)


def oracle_mean(real: np.ndarray) -> float:
    """The real-image oracle for one subject: mean cosine over distinct real pairs."""
    values = per_real_oracle(real)
    return float(values.mean()) if len(values) else float("nan")


def rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a_i, b_i): CLIP-T, each image against the text of its own prompt."""
    return np.sum(normalize_rows(a) * normalize_rows(b), axis=1)


def pairwise_distance_means(distances: np.ndarray) -> tuple[np.ndarray, float]:
    """From a symmetric (k, k) distance matrix: each item's mean distance to the others, and the pair mean.

    DIV of one (subject, prompt) is the mean over its k(k-1)/2 distinct pairs; each
    image's share is its mean distance to the other k-1 images (same mean overall).
    """
    distances = np.asarray(distances, dtype=np.float64)
    k = len(distances)
    if k < 2:
        return np.full(k, np.nan), float("nan")
    per_item = (distances.sum(axis=1) - np.diag(distances)) / (k - 1)
    upper = distances[np.triu_indices(k, 1)]
    return per_item, float(upper.mean())
