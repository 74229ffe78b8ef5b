"""The Discord application: configuration, bot class, generation queue, persistence, rendering."""
