"""GPU workers for the postgres queue: `python -m bot.worker` on each GPU machine."""
