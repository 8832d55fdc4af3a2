"""The data collector: VISTA control, protocol rules, ledgers and the round driver."""
