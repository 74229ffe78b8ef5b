"""Put clip spectrograms side by side: one picture for a track made of several clips.

A long riff, a blend or a remix is several 512-px clips; users see them as one image. The plain
strip keeps the pixels untouched (it is still a valid, wider spectrogram). The marked strip adds a
red line at every clip boundary and the clip's number, so a user can say "re-render clip 3". Red is
chosen on purpose: a mono reader takes the R channel, and R = 255 reads as silence, so the marks
never turn into loud noise if someone converts the marked strip back to audio.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

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


MAX_TIMELINE_WIDTH = 4000
"""A song's strip is squeezed to at most this many px: 240 s would be 24 000 px, which Discord
shows as a thin sliver and which costs seconds to encode; 4000 px still gives a bar at 180 BPM
about 20 px at four minutes. The squeezed picture is for reading, not for decoding."""
TICK_LENGTH = 14  # px of a bar mark at the top and the bottom edge: the middle stays readable
LABEL_SIZE = 20  # px: readable after Discord's preview scales a 4000-px image down


def timeline_strip(
    strip: Image.Image,
    sections: Sequence[tuple[int, str]],
    bars: Sequence[int],
    max_width: int = MAX_TIMELINE_WIDTH,
) -> Image.Image:
    """A whole-song picture: `strip` squeezed to `max_width`, a red line and label at every
    section start (`sections`: (x, label) in the strip's columns) and short ticks at the bars.

    The marks are drawn after scaling, so they stay one or two crisp pixels wide. Red, as in
    marked_strip, reads as silence if the picture is ever decoded. The EXIF (spectrogram
    parameters) is kept only when the columns are untouched.
    """
    scale = min(1.0, max_width / strip.width)
    out = strip.convert("RGB")
    if scale < 1.0:
        out = out.resize((max(1, round(strip.width * scale)), strip.height), Image.Resampling.BOX)
    elif "exif" in strip.info:
        out.info["exif"] = strip.info["exif"]
    draw = ImageDraw.Draw(out)
    bottom = out.height - 1
    for x in bars:
        sx = round(x * scale)
        draw.line((sx, 0, sx, TICK_LENGTH), fill=MARK_COLOUR)
        draw.line((sx, bottom - TICK_LENGTH, sx, bottom), fill=MARK_COLOUR)
    font = ImageFont.load_default(size=LABEL_SIZE)
    for x, label in sections:
        sx = round(x * scale)
        if sx:
            draw.rectangle(
                (sx - MARK_WIDTH // 2, 0, sx + MARK_WIDTH // 2 - 1, bottom), fill=MARK_COLOUR
            )
        left, top, right, low = draw.textbbox((sx + 4, TICK_LENGTH + 4), label, font=font)
        draw.rectangle((left - 2, top - 2, right + 2, low + 2), fill="white")
        draw.text((sx + 4, TICK_LENGTH + 4), label, fill=MARK_COLOUR, font=font)
    return out


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
