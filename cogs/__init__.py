"""discord.py extensions, one per feature. Thin: parse, validate, enqueue, render."""
