"""Tests of the wire-level fake Discord itself (tests/fakediscord), with small discord.py bots."""
