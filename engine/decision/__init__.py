"""Deciding: `decide(policy, state, event | timer, now)` and what it is made of: the collection
clock, the contact plan under its caps and window, stage moves and steps, and events."""
