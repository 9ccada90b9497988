"""Qiao's sentinel: a second, independent line of defence against a colluding committee.

A sentinel is run by an organisation that is not a committee member. It holds no share; it reads both
chains through its own RPC endpoints with its own finality rule, rebuilds every transfer a destination
endpoint executed, queued or held from the source chain's final `TransferInitiated` events, checks the
supply of each token pair, and on evidence every one of its RPCs agrees on it sends `curse` (the route
stops) or `veto` (a held transfer is never delivered). It never imports the relayer's pipeline,
adapters or operations, nor the committee: only the protocol's definitions (`relayer.core.types`,
`relayer.core.encoding`). See `sentinel.checks` for the evidence it requires before it curses.
"""
