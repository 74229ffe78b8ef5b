"""Find a device and load the Riffusion checkpoint as a `RiffusionPipeline`.

Loading is where users hit problems (offline machine, wrong folder, no GPU), so every failure
becomes one `ModelLoadError` that says what to do, usually: point RIFFUSION_MODEL at a local copy.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from riffusion_core.errors import ModelLoadError

DEFAULT_MODEL = "riffusion/riffusion-model-v1"
MODEL_ENV_VAR = "RIFFUSION_MODEL"

_TRUTHY = {"1", "true", "yes", "on"}


def default_model() -> str:
    """The model to load when none is given: $RIFFUSION_MODEL, else the published checkpoint."""
    return os.environ.get(MODEL_ENV_VAR, "").strip() or DEFAULT_MODEL


def resolve_device(name: str = "auto") -> torch.device:
    """ "auto" picks CUDA, then Apple MPS, then CPU; explicit names are checked, not trusted."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"Unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps."
        ) from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError("CUDA was requested but no CUDA GPU is available; use cpu.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ModelLoadError(
                f"GPU {device.index} does not exist ({torch.cuda.device_count()} CUDA device(s))."
            )
    elif device.type == "mps":
        if not _mps_available():
            raise ModelLoadError("MPS was requested but is not available here; use cpu.")
    elif device.type != "cpu":
        raise ModelLoadError(f"Unsupported device {name!r}: use auto, cpu, cuda, cuda:N or mps.")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def dtype_for(device: torch.device) -> torch.dtype:
    """fp16 halves memory and time on CUDA; CPU kernels are fp32, and MPS is safest in fp32."""
    return torch.float16 if device.type == "cuda" else torch.float32


def _offline() -> bool:
    import huggingface_hub.constants as hub_constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY
    return env or bool(hub_constants.HF_HUB_OFFLINE)


@contextlib.contextmanager
def _progress_bars(show: bool) -> Iterator[None]:
    """Show (or hide) download and loading bars (huggingface_hub, diffusers, transformers)."""
    from diffusers.utils import logging as diffusers_logging
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as transformers_logging

    toggles = [
        (
            hub_utils.are_progress_bars_disabled(),
            hub_utils.enable_progress_bars,
            hub_utils.disable_progress_bars,
        ),
        (
            not diffusers_logging.is_progress_bar_enabled(),
            diffusers_logging.enable_progress_bar,
            diffusers_logging.disable_progress_bar,
        ),
        (
            not transformers_logging.is_progress_bar_enabled(),
            transformers_logging.enable_progress_bar,
            transformers_logging.disable_progress_bar,
        ),
    ]
    for _, enable, disable in toggles:
        (enable if show else disable)()
    try:
        yield
    finally:
        for was_disabled, enable, disable in toggles:
            (disable if was_disabled else enable)()


@contextlib.contextmanager
def _quiet_hub_fallback(active: bool) -> Iterator[None]:
    """Hide diffusers' "Couldn't connect to the Hub, trying the cache" warning: when the cache
    has no copy either, the user gets one ModelLoadError saying what to do instead."""
    log = logging.getLogger("diffusers.pipelines.pipeline_utils")
    level = log.level
    if active:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _looks_like_path(model: str) -> bool:
    """A hub id is "owner/name"; anything else with a separator, or that exists, is a folder."""
    return (
        Path(model).expanduser().exists()
        or model.startswith((".", "/", "~"))
        or model.count("/") > 1
        or "\\" in model
    )


def _offline_help(model: str) -> str:
    return (
        f"Could not load the model {model!r}: it is not in the local Hugging Face cache and the "
        "Hub cannot be reached (offline, or the name is wrong). Download it once on a machine with "
        f"internet access (e.g. `hf download {DEFAULT_MODEL} --local-dir "
        f"models/riffusion`) and set {MODEL_ENV_VAR} to that local folder."
    )


def load_pipeline(model: str | None = None, device: str = "auto", show_progress: bool = True):
    """Load a hub id or a local diffusers folder as a RiffusionPipeline on `device`.

    `model=None` means $RIFFUSION_MODEL or DEFAULT_MODEL. Any failure raises ModelLoadError
    with a message a user can act on.
    """
    from riffusion_core.pipeline import RiffusionPipeline

    model = (model or default_model()).strip()
    torch_device = resolve_device(device)
    dtype = dtype_for(torch_device)
    local = _looks_like_path(model)
    if local:
        folder = Path(model).expanduser()
        if not folder.is_dir():
            raise ModelLoadError(
                f"Model folder {str(folder)!r} does not exist. Set {MODEL_ENV_VAR} to a folder "
                "with model_index.json, or to the Hub id "
                f"{DEFAULT_MODEL!r}."
            )
        if not (folder / "model_index.json").is_file():
            raise ModelLoadError(
                f"{str(folder)!r} is not a diffusers model folder (no model_index.json). Set "
                f"{MODEL_ENV_VAR} to the folder that contains model_index.json (for example a "
                f"download of {DEFAULT_MODEL})."
            )
        source = str(folder)
    else:
        source = model

    kwargs = {
        "dtype": dtype,
        "safety_checker": None,
        "feature_extractor": None,
        "local_files_only": local or _offline(),
    }
    with _progress_bars(show_progress), _quiet_hub_fallback(not local):
        try:
            pipe = RiffusionPipeline.from_pretrained(source, **kwargs)
        except ModelLoadError:
            raise
        except Exception as exc:  # diffusers and the hub raise many types; users need one
            if local:
                raise ModelLoadError(
                    f"Could not load the model folder {source!r}: {_first_line(exc)}. Check that "
                    "it is a complete Stable Diffusion (diffusers) download."
                ) from exc
            raise ModelLoadError(_offline_help(model)) from exc
    pipe.model_id = model
    pipe.to(torch_device)
    pipe.optimize_for_device()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__
