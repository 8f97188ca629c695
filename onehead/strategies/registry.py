"""All strategies by name; `build_strategy` makes them from params.yaml's `strategy` section.

This is the one place where params keys meet strategy arguments: the strategy classes take
plain constructor arguments (as Avalanche's `LwFPlugin(alpha, temperature)`).
"""
from ..config import STRATEGY_NAMES, StrategyParams
from .base import Combined, Strategy
from .ewc import EWC
from .kd import KD
from .lwf import LwF
from .naive import Naive
from .replay import Replay

CONSTRUCTORS = {
    "naive": lambda p: Naive(),
    "ewc": lambda p: EWC(lam=p.ewc_lambda, decay=p.ewc_decay),
    "lwf": lambda p: LwF(weight=p.lwf_weight, temperature=p.lwf_temperature, replay_weight=p.lwf_replay_weight),
    "replay": lambda p: Replay(per_step=p.replay_per_step, weight=p.replay_weight),
    "kd": lambda p: KD(weight=p.kd_weight, feature_weight=p.kd_feature_weight, temperature=p.kd_temperature,
                       replay_weight=p.lwf_replay_weight),
}
assert tuple(CONSTRUCTORS) == STRATEGY_NAMES, "params.yaml's strategy names and the strategies must agree"


def build_strategy(params: StrategyParams) -> Strategy:
    """The strategies `params.names` lists, combined if several."""
    strategies = [CONSTRUCTORS[name](params) for name in params.names]
    return strategies[0] if len(strategies) == 1 else Combined(strategies)
