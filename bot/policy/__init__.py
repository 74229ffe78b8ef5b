"""Server rules, the prompt filter and users' own defaults."""
