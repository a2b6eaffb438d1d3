"""The floor every layer stands on: the city file, the key schema, residents, statistics and shared values.

It imports nothing of stadtfunk's own outside itself.
"""
