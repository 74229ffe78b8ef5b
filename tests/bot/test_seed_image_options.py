"""SEED_IMAGES_DIR in the settings, and the seed_image option built from the catalogue."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.app.commandtree import option_problem
from bot.config import SettingsError, load_settings
from bot.ui.seed_options import MAX_CHOICES, matching, offer_seed_images, seed_image_choices
from riffusion_core.seed_images.catalogue import SeedImageCatalogue
from tests.conftest import REFERENCE_SEED_DIR

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.fake-token-for-tests_0123456789abcdef"


def catalogue_with(count: int) -> SeedImageCatalogue:
    """The bundled images plus `count` folder names (the files need not exist for the names)."""
    return SeedImageCatalogue(
        folder_files={f"loop_{i:02d}": Path(f"/x/{i}.png") for i in range(count)}
    )


def test_seed_images_dir_is_read_and_checked(tmp_path):
    settings = load_settings(
        {"DISCORD_TOKEN": TOKEN, "SEED_IMAGES_DIR": str(REFERENCE_SEED_DIR)}, dotenv_path=None
    )
    assert settings.seed_images_dir == REFERENCE_SEED_DIR
    assert load_settings({"DISCORD_TOKEN": TOKEN}, dotenv_path=None).seed_images_dir is None
    with pytest.raises(SettingsError) as info:
        load_settings(
            {"DISCORD_TOKEN": TOKEN, "SEED_IMAGES_DIR": str(tmp_path / "nope")}, dotenv_path=None
        )
    [problem] = info.value.problems
    assert problem.startswith("SEED_IMAGES_DIR must be an existing folder")


def test_choices_up_to_discords_limit_then_autocomplete():
    bundled = len(SeedImageCatalogue().names())
    fits = catalogue_with(MAX_CHOICES - 1 - bundled)  # with "none": exactly 25
    choices = seed_image_choices(fits)
    assert choices is not None and len(choices) == MAX_CHOICES
    assert choices[-1].value == "none" and choices[0].value == "ambient_pulse"
    assert seed_image_choices(catalogue_with(MAX_CHOICES - bundled)) is None

    many = catalogue_with(40)
    assert [c.value for c in matching(many, "LOOP_1")] == [f"loop_1{i}" for i in range(10)]
    assert len(matching(many, "")) == MAX_CHOICES and matching(many, "")[0].value == "none"
    assert [c.value for c in matching(many, "beat")] == ["backbeat"]  # not its former name


class Host(commands.Cog):
    """A cog like /riff's: one string option set at load time."""

    def __init__(self, catalogue: SeedImageCatalogue) -> None:
        offer_seed_images(self.pick, catalogue, self.complete)

    @app_commands.command(name="pick", description="Pick one.")
    async def pick(self, interaction: discord.Interaction, seed_image: str | None = None) -> None:
        pass

    async def complete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return []


def test_each_cog_instance_gets_its_own_option():
    few, many = Host(catalogue_with(0)), Host(catalogue_with(40))
    [few_param] = few.pick.parameters
    [many_param] = many.pick.parameters
    assert [c.value for c in few_param.choices][-2:] == ["half_time", "none"]
    assert not few_param.autocomplete
    assert many_param.choices == [] and many_param.autocomplete
    [class_param] = Host.pick.parameters  # the class's command is left as declared
    assert class_param.choices == [] and not class_param.autocomplete
    # The command tree's declared-options check applies to the choices set at load time.
    assert option_problem(few.pick, {"seed_image": "backbeat"}) is None
    assert "must be one of" in (option_problem(few.pick, {"seed_image": "og_beat"}) or "")
    assert option_problem(many.pick, {"seed_image": "anything"}) is None  # the cog checks it
