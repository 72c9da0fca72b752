"""A click group that imports each subcommand's module only when that command is needed.

Click's documented lazy-loading pattern: the group holds a mapping from
command name to ``"module:attribute"`` and imports the module in
:meth:`LazyGroup.get_command`. ``abaw score`` then never imports what
``abaw train`` needs (torch, timm). ``abaw --help`` still imports every
command module, for its short help: each must import without torch at
module level.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """A group whose subcommands are imported by name on first use.

    Args:
        lazy_subcommands: Command name to ``"package.module:attribute"``, the
            attribute a :class:`click.Command` (or group).
    """

    def __init__(self, *args: Any, lazy_subcommands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, eagerly added or lazy, sorted (as click sorts its own)."""
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            return self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, cmd_name: str) -> click.Command:
        module_name, _, attribute = self.lazy_subcommands[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_subcommands[cmd_name]} is not a click command (lazy command {cmd_name!r})")
        return command
