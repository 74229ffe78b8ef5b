"""Builds the ``data`` of injected interactions from what the bot actually synced or sent.

Working from the synced command definitions (and the message's real components, the modal's
real layout) means a test cannot invoke something a Discord user could not: an unsynced
command, a missing required option, a button that is not on the message.
"""

from __future__ import annotations

from typing import Any

from .models import AppCommand, Attachment, Channel, Guild, Message, Role, User
from .state import DiscordState
from .validation import Limits

OPTION_SUBCOMMAND, OPTION_GROUP = 1, 2
CHOICE_TYPES = {3, 4, 10}


class InteractionBuilder:
    def __init__(self, state: DiscordState, limits: Limits) -> None:
        self.state = state
        self.limits = limits

    # -- application commands --

    def _command(
        self, user: User, channel: Channel, name: str, type: int
    ) -> tuple[AppCommand, dict[str, Any]]:
        guild = self.state.guild_of(channel)
        if guild is not None and user.id not in guild.members:
            raise ValueError(f"{user.name} is not a member of {guild.name}")
        command = self.state.find_command(name, type, guild)
        if command is None:
            synced = sorted(c.name for c in self.state.commands.values())
            raise LookupError(f"command {name!r} (type {type}) was not synced; synced: {synced}")
        self._check_visible(user, channel, guild, command.definition)
        data: dict[str, Any] = {"id": str(command.id), "name": command.name, "type": type}
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        return command, data

    def _check_visible(
        self, user: User, channel: Channel, guild: Guild | None, definition: dict[str, Any]
    ) -> None:
        """Discord hides commands by context and ``default_member_permissions``."""
        context = 0 if guild is not None else 1
        contexts = definition.get("contexts")
        if contexts is not None and context not in contexts:
            raise PermissionError(f"/{definition['name']} is not available in this context")
        if guild is None:
            if definition.get("dm_permission") is False:
                raise PermissionError(f"/{definition['name']} is not available in DMs")
            return
        needed = definition.get("default_member_permissions")
        if needed is not None:
            perms = self.state.permissions(user, channel)
            if int(needed) == 0 or perms & int(needed) != int(needed):
                raise PermissionError(f"{user.name} cannot use /{definition['name']}")

    def command_data(
        self,
        user: User,
        channel: Channel,
        name: str,
        options: dict[str, Any],
        *,
        focused: str | None = None,
    ) -> dict[str, Any]:
        root, *path = name.split()
        command, data = self._command(user, channel, root, 1)
        definitions = command.definition.get("options") or []
        container = data
        for part in path:
            sub = next(
                (
                    o
                    for o in definitions
                    if o["name"] == part and o["type"] in (OPTION_SUBCOMMAND, OPTION_GROUP)
                ),
                None,
            )
            if sub is None:
                raise LookupError(f"/{root} has no subcommand {part!r}")
            entry: dict[str, Any] = {"name": part, "type": sub["type"], "options": []}
            container["options"] = [entry]
            container, definitions = entry, sub.get("options") or []
        resolved: dict[str, dict[str, Any]] = {}
        built = []
        for key, value in options.items():
            definition = next((o for o in definitions if o["name"] == key), None)
            if definition is None:
                raise ValueError(f"/{name} has no option {key!r}")
            if key == focused:
                if not definition.get("autocomplete"):
                    raise ValueError(f"option {key!r} of /{name} has no autocomplete")
                built.append(
                    {"name": key, "type": definition["type"], "value": str(value), "focused": True}
                )
                continue
            built.append(
                {
                    "name": key,
                    "type": definition["type"],
                    "value": self._option_value(definition, value, channel, resolved),
                }
            )
        if focused is None:
            missing = [
                o["name"] for o in definitions if o.get("required") and o["name"] not in options
            ]
            if missing:
                raise ValueError(f"/{name} needs the required options {missing}")
        elif focused not in options:
            raise ValueError(f"the focused option {focused!r} needs a (partial) value")
        container["options"] = built
        if resolved:
            data["resolved"] = resolved
        return data

    def _option_value(
        self,
        definition: dict[str, Any],
        value: Any,
        channel: Channel,
        resolved: dict[str, dict[str, Any]],
    ) -> Any:
        kind, name = definition["type"], definition["name"]
        if kind == 3:
            value = str(value)
            if (
                not definition.get("min_length", 0)
                <= len(value)
                <= definition.get("max_length", 6000)
            ):
                raise ValueError(f"option {name!r}: length out of range")
        elif kind == 4:
            if isinstance(value, bool) or int(value) != value:
                raise ValueError(f"option {name!r} needs an integer, not {value!r}")
            value = int(value)
        elif kind == 10:
            value = float(value)
        elif kind == 5:
            if not isinstance(value, bool):
                raise ValueError(f"option {name!r} needs a bool, not {value!r}")
        elif kind in (6, 7, 8, 9, 11):
            return self._resolve(kind, name, value, channel, resolved)
        if kind in (4, 10):
            low, high = definition.get("min_value"), definition.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(f"option {name!r}: {value} is outside [{low}, {high}]")
        choices = definition.get("choices")
        if kind in CHOICE_TYPES and choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {name!r}: {value!r} is not one of the choices")
        return value

    def _resolve(
        self,
        kind: int,
        name: str,
        value: Any,
        channel: Channel,
        resolved: dict[str, dict[str, Any]],
    ) -> str:
        """Snowflake options travel as ids with the objects in ``data.resolved``."""
        guild = self.state.guild_of(channel)
        if kind in (6, 9) and isinstance(value, User):
            resolved.setdefault("users", {})[str(value.id)] = value.payload()
            if guild is not None and value.id in guild.members:
                member = guild.members[value.id].payload(with_user=False)
                member["permissions"] = str(self.state.permissions(value, channel))
                resolved.setdefault("members", {})[str(value.id)] = member
            return str(value.id)
        if kind in (8, 9) and isinstance(value, Role):
            resolved.setdefault("roles", {})[str(value.id)] = value.payload()
            return str(value.id)
        if kind == 7 and isinstance(value, Channel):
            payload = value.payload() | {
                "permissions": str(self.state.permissions(self.state.bot_user, value))
            }
            resolved.setdefault("channels", {})[str(value.id)] = payload
            return str(value.id)
        if kind == 11:
            attachment = self.upload(channel, value)
            resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.payload()
            return str(attachment.id)
        raise ValueError(f"option {name!r} (type {kind}) cannot take {value!r}")

    def upload(self, channel: Channel, spec: Any) -> Attachment:
        """A file a user attached in the client: ``(filename, bytes[, content_type])``."""
        if not (isinstance(spec, tuple) and len(spec) in (2, 3)):
            raise ValueError("attachments are given as (filename, bytes[, content_type])")
        filename, data, *rest = spec
        if len(data) > self.limits.upload_limit:
            raise ValueError(
                f"{filename} is larger than the upload limit; Discord's client would refuse it"
            )
        return self.state.store_file(
            channel.id, filename, bytes(data), rest[0] if rest else None, ephemeral=True
        )

    def context_menu_data(
        self, user: User, channel: Channel, name: str, type: int, target: Message | User
    ) -> dict[str, Any]:
        _, data = self._command(user, channel, name, type)
        data["target_id"] = str(target.id)
        if isinstance(target, Message):
            if target.deleted:
                raise ValueError("the target message was deleted")
            # The target's content is always sent, whatever the message_content intent.
            data["resolved"] = {"messages": {str(target.id): target.payload()}}
        else:
            resolved: dict[str, dict[str, Any]] = {}
            self._resolve(6, "target", target, channel, resolved)
            data["resolved"] = resolved
        return data

    # -- components and modals --

    def component_data(self, message: Message, custom_id: str, values: list[str]) -> dict[str, Any]:
        if message.deleted:
            raise ValueError("the message was deleted; nobody can click on it")
        component = _find_component(message.components, custom_id)
        if component is None:
            raise LookupError(
                f"no component {custom_id!r} on message {message.id}; it has {message.custom_ids()}"
            )
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] == 2:
            if values:
                raise ValueError("buttons take no values")
            return data
        low, high = component.get("min_values", 1), component.get("max_values", 1)
        if not low <= len(values) <= high:
            raise ValueError(f"select {custom_id!r} takes {low}-{high} values")
        if component["type"] == 3:
            allowed = [o["value"] for o in component.get("options", [])]
            bad = [v for v in values if v not in allowed]
            if bad:
                raise ValueError(f"{bad} are not options of select {custom_id!r}")
        data["values"] = values
        return data

    def modal_data(
        self, modal: dict[str, Any], channel: Channel, values: dict[str, Any]
    ) -> dict[str, Any]:
        resolved: dict[str, dict[str, Any]] = {}
        unused = set(values)

        def submit(item: dict[str, Any]) -> dict[str, Any]:
            kind, custom_id = item.get("type"), item.get("custom_id")
            out: dict[str, Any] = {"type": kind}
            if "id" in item:
                out["id"] = item["id"]
            if custom_id is None:
                return out
            out["custom_id"] = custom_id
            unused.discard(custom_id)
            given = values.get(custom_id)
            if kind == 4:
                text = str(given if given is not None else item.get("value") or "")
                if item.get("required", True) and not text:
                    raise ValueError(f"text input {custom_id!r} is required")
                if not item.get("min_length", 0) <= len(text) <= item.get("max_length", 4000):
                    raise ValueError(f"text input {custom_id!r}: length out of range")
                out["value"] = text
            elif kind == 19:
                files = list(given or [])
                if item.get("required", True) and not files:
                    raise ValueError(f"file upload {custom_id!r} is required")
                ids = []
                for spec in files:
                    attachment = self.upload(channel, spec)
                    resolved.setdefault("attachments", {})[str(attachment.id)] = (
                        attachment.payload()
                    )
                    ids.append(str(attachment.id))
                out["values"] = ids
            elif isinstance(given, list | tuple):
                out["values"] = [str(v) for v in given]
            elif given is not None:
                out["value"] = given
            else:
                out["values"] = []
            return out

        components = []
        for top in modal.get("components") or []:
            if top.get("type") == 1:
                components.append(
                    {"type": 1, "components": [submit(c) for c in top.get("components", [])]}
                )
            elif top.get("type") == 18:
                label = {"type": 18, "component": submit(top["component"])}
                if "id" in top:
                    label["id"] = top["id"]
                components.append(label)
            else:
                components.append(submit(top))
        if unused:
            raise ValueError(f"the modal has no inputs {sorted(unused)}")
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": components}
        if resolved:
            data["resolved"] = resolved
        return data


def _find_component(items: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for item in items:
        if item.get("custom_id") == custom_id:
            return item
        for key in ("components", "accessory", "component"):
            child = item.get(key)
            children = (
                child if isinstance(child, list) else [child] if isinstance(child, dict) else []
            )
            found = _find_component(children, custom_id)
            if found is not None:
                return found
    return None
