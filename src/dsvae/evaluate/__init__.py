"""Evaluation: the judge (a supervised sequence classifier), the metrics (pure functions of its
probabilities) and the protocols that score a trained run with them."""

from .judge import Judge, JudgeConfig, JudgeMismatchError, judge_accuracy, judge_sha256, train_judge
from .markdown import metrics_table
from .metrics import (
    accuracy,
    class_balanced_subset,
    conditional_entropy,
    inception_score,
    marginal_entropy,
    mean_std,
    motion_scores,
)
from .protocols import evaluate_run

__all__ = [
    "Judge",
    "JudgeConfig",
    "JudgeMismatchError",
    "accuracy",
    "class_balanced_subset",
    "conditional_entropy",
    "evaluate_run",
    "inception_score",
    "judge_accuracy",
    "judge_sha256",
    "marginal_entropy",
    "mean_std",
    "metrics_table",
    "motion_scores",
    "train_judge",
]
