"""Forgetting-mitigation strategies, one module each; `build_strategy` reads params['strategy']."""
from .base import Combined, StageContext, Strategy
from .ewc import EWC
from .kd import KD
from .lwf import LwF
from .naive import Naive
from .replay import Replay

REGISTRY = {cls.name: cls for cls in (Naive, EWC, LwF, Replay, KD)}


def build_strategy(params: dict) -> Strategy:
    strategies = [REGISTRY[name](params) for name in params["names"]]
    return strategies[0] if len(strategies) == 1 else Combined(strategies)


__all__ = ["StageContext", "Strategy", "build_strategy", "REGISTRY"]
