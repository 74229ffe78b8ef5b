"""GPU work: the generation queue, the renderer and its render tasks."""
