"""Write the bundled seed images (or tempo loops): seamless beat loops as spectrogram PNGs.

The loops are made by riffusion_core.seed_images.loops; this script only writes them. Without
--bpm it writes the four bundled 512x512 PNGs (two bars at about 93.9 BPM) into
riffusion_core/seed_images, the same pixels every run. With --bpm it writes each style at that
tempo, `grid.width` px wide (riffusion_core.tempo), as the seed images named `<style>@<bpm>bpm`.

Usage: `python scripts/make_seed_images.py [--out DIR] [--style NAME ...] [--bpm N] [--wav]`.

The names describe the loops and never reuse a name of Riffusion's own seed images (og_beat,
agile, marim, motorway, vibes): those are different recordings, which SEED_IMAGES_DIR can add.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "riffusion_core" / "seed_images"


def main(argv: list[str] | None = None) -> int:
    from riffusion_core.generation import SAMPLE_RATE
    from riffusion_core.seed_images.loops import (
        BUNDLED_GRID,
        LOOP_STYLES,
        loop_image,
        loop_to_segment,
        render_loop,
        save_png,
        tempo_loop,
    )

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the PNGs")
    parser.add_argument("--style", action="append", choices=LOOP_STYLES, help="default: all")
    parser.add_argument("--bpm", type=float, default=None, help="60-180 (default: the bundled)")
    parser.add_argument("--wav", action="store_true", help="also write each loop as a WAV")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for style in args.style or LOOP_STYLES:
        if args.bpm is None:
            grid, stem = BUNDLED_GRID, style
        else:
            loop = tempo_loop(style, args.bpm)
            grid, stem = loop.grid, loop.name
        audio = render_loop(style, grid)
        path = args.out / f"{stem}.png"
        save_png(loop_image(audio, grid.width), path)
        if args.wav:
            loop_to_segment(audio).export(args.out / f"{stem}.wav", format="wav")
        print(
            f"{path}  ({grid.bpm:.2f} BPM, {grid.bars} bars in {len(audio) / SAMPLE_RATE:.3f} s, "
            f"{grid.width} px)"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
