"""The real bot (in-process via `bot_harness`, or `python -m bot`) against tests/fakediscord."""
