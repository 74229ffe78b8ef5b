"""The bot's own web side (aiohttp, on the bot's event loop): Riffusion's inference API, pages
for results worth sharing and the radio, health and metrics (docs/web.md)."""
