"""Loading the model: devices, the tiny pipeline through from_pretrained, and clear errors."""

import json
import shutil

import pytest
import torch

from riffusion_core.errors import ModelLoadError
from riffusion_core.model import (
    DEFAULT_MODEL,
    MODEL_ENV_VAR,
    default_model,
    dtype_for,
    load_pipeline,
    resolve_device,
)
from riffusion_core.pipeline import RiffusionPipeline
from scripts.make_tiny_model import write_tokenizer_files


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("CPU") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else None
    auto = resolve_device("auto")
    assert auto.type in {"cuda", "mps", "cpu"}
    if expected:
        assert auto.type == "cuda"
    with pytest.raises(ModelLoadError, match="Unknown device"):
        resolve_device("tpu-please")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        resolve_device("cuda:1")


def test_fp16_only_on_cuda():
    assert dtype_for(torch.device("cuda")) == torch.float16
    assert dtype_for(torch.device("cpu")) == torch.float32


def test_default_model_reads_env(monkeypatch):
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    assert default_model() == DEFAULT_MODEL == "riffusion/riffusion-model-v1"
    monkeypatch.setenv(MODEL_ENV_VAR, "/models/riffusion")
    assert default_model() == "/models/riffusion"


def test_tiny_pipeline_loads_like_the_real_one(tiny_pipeline, tiny_model_dir):
    pipe = tiny_pipeline
    assert isinstance(pipe, RiffusionPipeline)
    assert pipe.device.type == "cpu" and pipe.unet.dtype == torch.float32
    assert pipe.model_id == str(tiny_model_dir)
    assert pipe.scheduler_name == "pndm"
    config = pipe.scheduler.config
    assert (config.beta_start, config.beta_end, config.beta_schedule) == (
        0.00085,
        0.012,
        "scaled_linear",
    )
    assert config.skip_prk_steps and config.steps_offset == 1
    assert pipe.safety_checker is None
    assert pipe.vae_scale_factor == 8 and pipe.unet.config.in_channels == 4
    assert pipe.tokenizer.model_max_length == 77
    index = json.loads((tiny_model_dir / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"  # a standard SD folder


def test_offline_hub_id_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        load_pipeline("no-such-user/no-such-riffusion-model", device="cpu", show_progress=False)
    message = str(info.value)
    assert MODEL_ENV_VAR in message and "local folder" in message
    assert "\n" not in message


def test_empty_folder_is_not_a_model(tmp_path):
    with pytest.raises(ModelLoadError, match=r"model_index\.json"):
        load_pipeline(str(tmp_path), device="cpu", show_progress=False)


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_pipeline(str(tmp_path / "nope"), device="cpu", show_progress=False)


def test_broken_folder(tmp_path):
    (tmp_path / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": "StableDiffusionPipeline",
                "unet": ["diffusers", "UNet2DConditionModel"],
            }
        )
    )
    with pytest.raises(ModelLoadError, match="Could not load the model folder"):
        load_pipeline(str(tmp_path), device="cpu", show_progress=False)


def test_loads_the_published_checkpoint_layout(tiny_model_dir, tmp_path):
    """riffusion-model-v1 (2022) lists a safety checker and a CLIPFeatureExtractor (gone in
    transformers 5) and ships vocab.json/merges.txt: neither may stop loading."""
    folder = tmp_path / "riffusion-layout"
    shutil.copytree(tiny_model_dir, folder)
    index = json.loads((folder / "model_index.json").read_text())
    index.pop("requires_safety_checker")
    index.pop("image_encoder")
    index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
    index["feature_extractor"] = ["transformers", "CLIPFeatureExtractor"]
    (folder / "model_index.json").write_text(json.dumps(index))
    shutil.rmtree(folder / "tokenizer")
    write_tokenizer_files(folder / "tokenizer")
    (folder / "tokenizer" / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"})
    )
    pipe = load_pipeline(str(folder), device="cpu", show_progress=False)
    assert pipe.safety_checker is None and pipe.feature_extractor is None
    assert pipe.tokenizer("the", add_special_tokens=False).input_ids == (
        load_pipeline(str(tiny_model_dir), device="cpu", show_progress=False)
        .tokenizer("the", add_special_tokens=False)
        .input_ids
    )


def test_progress_setting_is_restored(tiny_model_dir):
    from huggingface_hub.utils import are_progress_bars_disabled

    before = are_progress_bars_disabled()
    load_pipeline(str(tiny_model_dir), device="cpu", show_progress=True)
    load_pipeline(str(tiny_model_dir), device="cpu", show_progress=False)
    assert are_progress_bars_disabled() == before
