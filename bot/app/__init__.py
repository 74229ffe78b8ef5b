"""App wiring: the bot class that builds every service, logging, the command tree."""
