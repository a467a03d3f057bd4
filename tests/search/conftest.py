"""Fixtures for the search tests: the shipped digits CNN and a small evaluator (32 samples)."""

from __future__ import annotations

import warnings

import optuna
import pytest

from spikefi.data import load_spiking_digits
from spikefi.search import FaultSetEvaluator
from spikefi.zoo import load_pretrained

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


@pytest.fixture(scope="session")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    return net, test


@pytest.fixture(scope="session")
def evaluator(digits) -> FaultSetEvaluator:
    net, test = digits
    return FaultSetEvaluator(net, test, max_samples=32, batch_size=32)


@pytest.fixture(scope="session")
def staged_evaluator(digits) -> FaultSetEvaluator:
    net, test = digits
    return FaultSetEvaluator(net, test, max_samples=32, batch_size=32, first_stage=0.25, seed=3)
