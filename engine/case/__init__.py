"""The case's data: the case file that arrives, the state that travels, events, actions, money.

Everything here is a value: serializable, validated, with no behaviour beyond its own shape.
"""
