"""Voice playback and the radio, on top of the engine."""
