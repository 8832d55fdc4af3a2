# pragma version ~=0.4.3
"""
@title deml reward token
@notice snekmate's audited ERC-20 (with EIP-2612 permits), not a hand-written one. The deployer (the data
        collector) owns it and is its only minter: it mints the tokens it grants to nodes and the tokens it
        funds the coordinator's reward pool with. The coordinator itself never mints; it only moves tokens it
        holds (the pool and the locked stakes).
"""

from snekmate.auth import ownable
from snekmate.tokens import erc20

initializes: ownable
initializes: erc20[ownable := ownable]

exports: erc20.__interface__


@deploy
def __init__():
    ownable.__init__()
    erc20.__init__("deml reward", "DEML", 18, "deml reward", "1")
