"""`deml analyse`: the economics of finished runs (tokens, stake, gas per node and role; the adversary's realised
play against the solver's equilibrium; the cost of learning progress; receipts), read from run directories."""
