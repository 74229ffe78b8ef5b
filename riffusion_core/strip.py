"""Put clip spectrograms side by side: one picture for a track made of several clips.

A long riff, a blend or a remix is several 512-px clips; users see them as one image. The plain
strip keeps the pixels untouched (it is still a valid, wider spectrogram). The marked strip adds a
red line at every clip boundary and the clip's number, so a user can say "re-render clip 3". Red is
chosen on purpose: a mono reader takes the R channel, and R = 255 reads as silence, so the marks
never turn into loud noise if someone converts the marked strip back to audio.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

MARK_COLOUR = (255, 0, 0)
MARK_WIDTH = 2


def side_by_side(images: Sequence[Image.Image]) -> Image.Image:
    """Concatenate images left to right (all the same height); keep the first image's EXIF."""
    if not images:
        raise ValueError("side_by_side needs at least one image")
    height = images[0].height
    if any(im.height != height for im in images):
        raise ValueError("all clip images must have the same height")
    strip = Image.new("RGB", (sum(im.width for im in images), height), "white")
    x = 0
    for im in images:
        strip.paste(im.convert("RGB"), (x, 0))
        x += im.width
    exif = images[0].getexif()
    if len(exif):
        strip.info["exif"] = exif.tobytes()
    return strip


def boundaries(images: Sequence[Image.Image]) -> list[int]:
    """x position where each clip starts in the strip (the first is 0)."""
    xs, x = [], 0
    for im in images:
        xs.append(x)
        x += im.width
    return xs


def marked_strip(images: Sequence[Image.Image], labels: Sequence[str] | None = None) -> Image.Image:
    """side_by_side with a red line between clips and each clip's label (default 1, 2, ...)."""
    strip = side_by_side(images)
    labels = list(labels) if labels is not None else [str(i + 1) for i in range(len(images))]
    draw = ImageDraw.Draw(strip)
    for i, x in enumerate(boundaries(images)):
        if i:
            draw.rectangle(
                (x - MARK_WIDTH // 2, 0, x + MARK_WIDTH // 2 - 1, strip.height - 1),
                fill=MARK_COLOUR,
            )
        draw.text((x + 4, 2), labels[i], fill=MARK_COLOUR)
    return strip
