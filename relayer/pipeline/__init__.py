"""The node's pipeline: watch, batch, sign, aggregate and submit, wired by `node.Node`."""
