"""Test-wide settings, and registration of the fixture modules in tests/fixtures/ (one per area)."""

import os
from pathlib import Path

# The suite renders many tiny images: one torch thread is faster than two that compete with each
# other (and with the bot subprocesses some tests start, which inherit this environment), and it
# keeps float results independent of the machine's core count.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Nothing in the tests may reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference" / "riffusion-test-data"
# Riffusion's own seed images (riffusion-hobby's seed_images folder, MIT), see its README.
REFERENCE_SEED_DIR = REPO_ROOT.parent / "shared" / "reference" / "riffusion-seed-images"
REFERENCE_SEEDS = ("agile", "marim", "motorway", "og_beat", "vibes")

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if not path.stem.startswith("_")
)
