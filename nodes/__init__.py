"""Worker nodes: honest reporters, rational and classic adversaries, and the swarm that composes them."""
