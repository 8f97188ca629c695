"""Forgetting-mitigation strategies, one module each (Mammoth-style), with Avalanche-style hooks
(`base.Strategy`); `registry.build_strategy` makes them from params.

Kept empty on purpose: the first stage, which has nothing to protect, imports only `base`,
so a change to a strategy's code does not re-run it.
"""
