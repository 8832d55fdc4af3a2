"""The on-chain protocol: Vyper contracts and their Python face, titanoboa-style a few verbs.

    from contracts import connect, deploy, ChainLedger
    d = deploy(connect())                       # embedded py-evm chain, or connect("http://127.0.0.1:8545")
    d.grant(node.address, 10); d.fund(1_000); d.allow(node); d.register([node], 10)
    rid = d.open_round(tau_fx=65_536, dim=3, reward=1)
    d.commit(rid, [(node, digest)]); d.reveal(rid, [(node, report, salt)]); outcome = d.finalize(rid, members=1, dim=3)
    d.accounts(); d.outcome(rid)                # balances, and a finalized round read back from its events

`ChainLedger` is the same verbs behind the protocol.ledger.Ledger interface, for the round driver.
Modules: build (compile + cache), chain (transports), client (the verbs), chain_ledger, anvil (the devnet).
"""
from importlib import import_module

_VERBS = {"connect": "contracts.chain", "ChainLedger": "contracts.chain_ledger", "Deployment": "contracts.client",
          "Outcome": "contracts.client", "attach": "contracts.client", "deploy": "contracts.client"}
__all__ = sorted(_VERBS)


def __getattr__(name: str):
    # resolved on first use, so that `python -m contracts.build` or `contracts.anvil` do not load web3 first
    if name not in _VERBS:
        raise AttributeError(f"module 'contracts' has no attribute {name!r}")
    return getattr(import_module(_VERBS[name]), name)
