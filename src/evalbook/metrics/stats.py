"""Aggregates of per-item scores with their standard errors and confidence intervals.

Every interval here covers the resampling of questions only. It does not cover other seeds,
prompts or decoding settings. Normal intervals use the exact z quantile (1.959964 for 95%).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable
from dataclasses import asdict, dataclass, replace
from math import sqrt
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from evalbook.metrics._validation import (
    check_confidence,
    check_count,
    check_labels,
    check_positive_int,
    check_same_length,
    check_scores,
    is_binary,
)

logger = logging.getLogger(__name__)

# The standard library's normal quantile (accurate to about 1e-15) spares every page the
# second it takes to import scipy.stats.
_STANDARD_NORMAL = NormalDist()

__all__ = [
    "Estimate",
    "GroupEstimate",
    "MacroEstimate",
    "bootstrap_interval",
    "clustered_estimate",
    "macro_estimate",
    "mean_estimate",
    "micro_estimate",
    "minimum_detectable_effect",
    "wilson_interval",
    "z_quantile",
]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error and a two-sided confidence interval."""

    value: float
    se: float
    """Standard error; NaN when it cannot be estimated (one item, or one cluster)."""
    ci_low: float
    ci_high: float
    n: int
    """Number of items."""
    method: str
    """How ``se`` and the interval were computed, e.g. ``"clt"`` or ``"clustered"``."""
    n_clusters: int | None = None
    se_ratio: float | None = None
    """Clustered SE divided by the plain CLT SE of the same scores."""
    confidence: float = 0.95

    def scaled(self, factor: float = 100.0) -> Estimate:
        """Return the estimate with value, SE and interval multiplied by ``factor`` (percent).

        Examples
        --------
        >>> mean_estimate([1, 0, 1, 1]).scaled().value
        75.0
        """
        if not factor > 0:
            raise ValueError(f"factor must be positive, got {factor!r}")
        return replace(
            self,
            value=self.value * factor,
            se=self.se * factor,
            ci_low=self.ci_low * factor,
            ci_high=self.ci_high * factor,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict, e.g. for a ``metrics.json`` file."""
        return asdict(self)


def z_quantile(confidence: float = 0.95) -> float:
    """Return the standard normal quantile of a two-sided interval at ``confidence``.

    Examples
    --------
    >>> z_quantile(0.95)
    1.959964
    """
    return _STANDARD_NORMAL.inv_cdf(0.5 + check_confidence(confidence) / 2)


def _normal_estimate(
    value: float, se: float, n: int, method: str, confidence: float, **extra: Any
) -> Estimate:
    half_width = z_quantile(confidence) * se
    return Estimate(
        value=float(value),
        se=float(se),
        ci_low=float(value - half_width),
        ci_high=float(value + half_width),
        n=n,
        method=method,
        confidence=confidence,
        **extra,
    )


def _plain_se(values: np.ndarray) -> float:
    # CLT standard error with ddof = 1; undefined (NaN) for a single item.
    if len(values) < 2:
        return float("nan")
    return float(np.std(values, ddof=1) / sqrt(len(values)))


def mean_estimate(scores: ArrayLike, *, confidence: float = 0.95) -> Estimate:
    """Estimate the mean of per-item scores with the CLT standard error.

    SE = sqrt(sum (s_i - mean)^2 / (n (n - 1))), and the interval is mean +/- z SE.
    One item gives a NaN SE and interval.

    Raises
    ------
    ValueError
        If ``scores`` is empty or contains NaN or infinity.

    Examples
    --------
    >>> # 5 of 10 correct: SE = sqrt(10 * 0.25 / 9 / 10) = 0.166667.
    >>> mean_estimate([1] * 5 + [0] * 5).se
    0.166667
    """
    confidence = check_confidence(confidence)
    values = check_scores(scores)
    return _normal_estimate(values.mean(), _plain_se(values), len(values), "clt", confidence)


def micro_estimate(scores: ArrayLike, *, confidence: float = 0.95) -> Estimate:
    """Estimate the micro average: the mean over all items, labelled ``"micro"``.

    It equals :func:`mean_estimate` except for the label, so it can be shown beside
    :func:`macro_estimate`.

    Examples
    --------
    >>> micro_estimate([1, 0, 1, 1]).method
    'micro'
    """
    return replace(mean_estimate(scores, confidence=confidence), method="micro")


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Wilson score interval of a proportion ``successes / n``.

    Unlike mean +/- z SE it stays inside [0, 1] and keeps a width for 0 or n successes, which
    suits small groups such as a subject with about 100 items.

    Examples
    --------
    >>> wilson_interval(5, 10)
    (0.236593, 0.763407)
    """
    confidence = check_confidence(confidence)
    successes = check_count(successes, name="successes")
    n = check_positive_int(n, name="n")
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")

    z = z_quantile(confidence)
    proportion = successes / n
    denominator = 1 + z**2 / n
    center = (proportion + z**2 / (2 * n)) / denominator
    half_width = z * sqrt(proportion * (1 - proportion) / n + z**2 / (4 * n**2)) / denominator

    # The bound is exactly 0 for no successes and exactly 1 for all, which rounding can miss.
    low = 0.0 if successes == 0 else max(0.0, center - half_width)
    high = 1.0 if successes == n else min(1.0, center + half_width)
    return low, high


def _codes(labels: list[Hashable]) -> tuple[np.ndarray, list[Hashable]]:
    # Integer code per item and the distinct labels in order of first appearance.
    index: dict[Hashable, int] = {}
    codes = np.fromiter((index.setdefault(label, len(index)) for label in labels), dtype=np.int64)
    return codes, list(index)


def clustered_estimate(
    scores: ArrayLike, clusters: Iterable[Hashable], *, confidence: float = 0.95
) -> Estimate:
    """Estimate the mean with a cluster-robust SE, for items that share a passage or dialogue.

    SE_cl = sqrt(C / (C - 1) * sum over clusters c of (sum_{i in c} (s_i - mean))^2) / n,
    where C is the number of clusters. With one item per cluster (C = n) this equals the plain
    CLT SE exactly, because C / (C - 1) is then n / (n - 1). The result carries ``n_clusters``
    and ``se_ratio`` = SE_cl / plain SE (NaN when the plain SE is 0). One cluster gives a NaN SE.

    Examples
    --------
    >>> # Two passages of two items each, each passage all right or all wrong:
    >>> # residual sums are +1 and -1, so SE_cl = sqrt(2 / 1 * 2) / 4 = 0.5.
    >>> estimate = clustered_estimate([1, 1, 0, 0], ["p1", "p1", "p2", "p2"])
    >>> estimate.se, estimate.n_clusters, estimate.se_ratio
    (0.5, 2, 1.732051)
    """
    confidence = check_confidence(confidence)
    values = check_scores(scores)
    labels = check_labels(clusters, name="clusters")
    check_same_length(scores=values, clusters=labels)

    codes, distinct = _codes(labels)
    n_clusters = len(distinct)
    residual_sums = np.bincount(codes, weights=values - values.mean(), minlength=n_clusters)

    if n_clusters < 2:
        logger.warning("all %d items are in one cluster, so the clustered SE is NaN", len(values))
        se = float("nan")
    else:
        correction = n_clusters / (n_clusters - 1)
        se = sqrt(correction * float(np.sum(residual_sums**2))) / len(values)

    plain = _plain_se(values)
    ratio = se / plain if plain > 0 else float("nan")
    return _normal_estimate(
        values.mean(),
        se,
        len(values),
        "clustered",
        confidence,
        n_clusters=n_clusters,
        se_ratio=ratio,
    )


@dataclass(frozen=True)
class GroupEstimate:
    """One row of a per-group table: a group's size, mean, SE and Wilson interval."""

    group: Hashable
    n: int
    mean: float
    se: float
    """CLT SE of the group mean; NaN for a group with one item."""
    wilson_low: float | None
    """Wilson interval bounds; None unless every score of the group is 0 or 1."""
    wilson_high: float | None


@dataclass(frozen=True)
class MacroEstimate:
    """A macro average with the micro average of the same items and the per-group table."""

    estimate: Estimate
    """Mean of the group means; SE = sqrt(sum of squared group SEs) / K."""
    micro: Estimate
    """Mean over all items with the plain CLT SE."""
    groups: tuple[GroupEstimate, ...]
    """Groups sorted by their label's text."""

    @property
    def n_groups(self) -> int:
        """Number of groups K."""
        return len(self.groups)


def _group_estimate(group: Hashable, values: np.ndarray, confidence: float) -> GroupEstimate:
    low = high = None
    if is_binary(values):
        low, high = wilson_interval(int(values.sum()), len(values), confidence=confidence)
    return GroupEstimate(group, len(values), float(values.mean()), _plain_se(values), low, high)


def macro_estimate(
    scores: ArrayLike, groups: Iterable[Hashable], *, confidence: float = 0.95
) -> MacroEstimate:
    """Estimate the macro average over groups (e.g. MMLU subjects) beside the micro average.

    The macro value is the mean of the K group means, and its SE is sqrt(sum_k SE_k^2) / K,
    with the CLT SE of each group. The groups are independent, so their variances add.
    A group with one item has no SE estimate. Its SE is NaN, and so are the macro SE and
    interval, while the macro value is still computed. A warning names such groups.

    Examples
    --------
    >>> # Subject A: 90 of 100 right; subject B: 300 of 1,000 right.
    >>> scores = [1] * 90 + [0] * 10 + [1] * 300 + [0] * 700
    >>> result = macro_estimate(scores, ["A"] * 100 + ["B"] * 1000)
    >>> result.estimate.value, result.micro.value
    (0.6, 0.354545)
    """
    confidence = check_confidence(confidence)
    values = check_scores(scores)
    labels = check_labels(groups, name="groups")
    check_same_length(scores=values, groups=labels)

    codes, distinct = _codes(labels)
    order = sorted(range(len(distinct)), key=lambda code: str(distinct[code]))
    table = tuple(
        _group_estimate(distinct[code], values[codes == code], confidence) for code in order
    )

    singletons = [row.group for row in table if row.n == 1]
    if singletons:
        logger.warning(
            "groups %s have one item each, so the macro SE is NaN; merge or drop them to get one",
            singletons,
        )

    k = len(table)
    value = sum(row.mean for row in table) / k
    se = sqrt(sum(row.se**2 for row in table)) / k
    estimate = _normal_estimate(value, se, len(values), "macro", confidence)
    return MacroEstimate(estimate, micro_estimate(values, confidence=confidence), table)


def bootstrap_interval(
    data: np.ndarray | tuple[np.ndarray, ...],
    statistic: Callable[..., float],
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Estimate a statistic that is not an item mean with a seeded percentile bootstrap.

    Each resample draws n items with replacement. ``statistic`` receives the resampled data in
    the form it was given. An array is resampled along its first axis, so the rows of a 2-D
    array stay together. A tuple of arrays is resampled with the same item indices (paired) and
    passed as one argument per array. The value is the statistic
    of the original data, the SE is the standard deviation of the resampled statistics
    (ddof = 1), and the interval is their percentiles at (1 - confidence) / 2 and
    (1 + confidence) / 2.

    Use 10,000 or more resamples for a reported interval.

    Raises
    ------
    ValueError
        If the arrays differ in length, or a resampled statistic is NaN or infinite.

    Examples
    --------
    >>> correct = np.array([1, 0] * 50)
    >>> confidence = np.full(100, 0.8)
    >>> from evalbook.metrics.calibration import expected_calibration_error
    >>> result = bootstrap_interval((confidence, correct), expected_calibration_error)
    >>> result.value, result.n, result.method
    (0.3, 100, 'bootstrap-percentile')
    """
    confidence = check_confidence(confidence)
    n_resamples = check_positive_int(n_resamples, name="n_resamples")
    given = data if isinstance(data, tuple) else (data,)
    arrays = tuple(np.asarray(array) for array in given)
    if not arrays:
        raise ValueError("data is an empty tuple: give at least one array")
    n = check_same_length(**{f"data[{index}]": array for index, array in enumerate(arrays)})
    if n == 0:
        raise ValueError("data has no items: at least one is needed")

    value = float(statistic(*arrays))
    rng = np.random.default_rng(seed)
    resampled = np.empty(n_resamples)
    for draw in range(n_resamples):
        indices = rng.integers(0, n, size=n)
        resampled[draw] = statistic(*(array[indices] for array in arrays))

    invalid = ~np.isfinite(resampled)
    if invalid.any():
        raise ValueError(
            f"the statistic was NaN or infinite on {int(invalid.sum())} of {n_resamples} "
            "resamples; make it defined on every resample (e.g. when a group is missing)"
        )

    tail = (1 - confidence) / 2
    low, high = np.percentile(resampled, [100 * tail, 100 * (1 - tail)])
    return Estimate(
        value=value,
        se=float(np.std(resampled, ddof=1)) if n_resamples > 1 else float("nan"),
        ci_low=float(low),
        ci_high=float(high),
        n=n,
        method="bootstrap-percentile",
        confidence=confidence,
    )


def minimum_detectable_effect(se: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Return the smallest true difference that a two-sided test detects with ``power``.

    MDE = (z_{1 - alpha / 2} + z_power) * SE; at the defaults, (1.959964 + 0.841621) * SE.
    Use the paired SE of a difference, or the SE of one score against a fixed number.
    A NaN SE gives a NaN MDE.

    Examples
    --------
    >>> minimum_detectable_effect(0.01)
    0.028016
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be between 0 and 1, got {power!r}")
    if se < 0:
        raise ValueError(f"se must be non-negative, got {se!r}")
    return float((z_quantile(1 - alpha) + _STANDARD_NORMAL.inv_cdf(power)) * se)
