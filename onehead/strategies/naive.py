"""Naive fine-tuning: no mitigation; the reference for how much is forgotten."""
from .base import Strategy


class Naive(Strategy):
    name = "naive"
