"""The command reference, ``docs/commands.md``, rendered from the ``abaw`` click commands.

The reference is made from the commands themselves, so it says what ``--help``
says; ``tests/test_command_reference.py`` fails when the committed file is
stale. Regenerate it, or check it, with::

    python -m abaw.cli.reference docs/commands.md
    python -m abaw.cli.reference --check docs/commands.md

The text depends on the commands only: nothing is wrapped to a terminal width,
and a default is shown as the command states it (``[default: ...]`` in an
option's help, a ``show_default`` string) before its value, so a default
computed on the machine, such as a number of CPU cores, can be kept out.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from abaw.fileio import atomic_write_text

REGENERATE_COMMAND = "python -m abaw.cli.reference docs/commands.md"
CHECK_COMMAND = "python -m abaw.cli.reference --check docs/commands.md"

_STATED_DEFAULT = re.compile(r"\s*\[default: ([^\[\]]*)\]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<|])")
# A paragraph opening like a heading, quote, list item or rule would change the page's structure.
_BLOCK_OPENING = re.compile(r"^(#|>|[-+*=] )")
_ORDERED_LIST_OPENING = re.compile(r"^(\d+)(?=[.)] )")


def command_reference(root: click.Command | None = None, prog_name: str = "abaw") -> str:
    """The Markdown reference of ``root`` (default: the ``abaw`` group) and every command below it.

    One section per command path, depth first in the order ``list_commands``
    gives: its usage line, its help text and a table of its arguments and
    options. Hidden commands and options are left out, as ``--help`` leaves
    them out; the ``--help`` option, the same everywhere, is named once.

    Args:
        root: The command or group to document.
        prog_name: The name it is called by.

    Returns:
        The whole page, ending with one newline.

    Example:
        >>> @click.command()
        ... @click.option("--size", default=3, show_default=True, help="How many.")
        ... def hello(size):
        ...     '''Say hello.'''
        >>> print(command_reference(hello, prog_name="hello"))  # doctest: +ELLIPSIS
        # Command reference
        ...
        ## `hello`
        <BLANKLINE>
        ```text
        hello [OPTIONS]
        ```
        <BLANKLINE>
        Say hello.
        <BLANKLINE>
        | name | type | default | description |
        |---|---|---|---|
        | `--size` | integer | 3 | How many. |
        <BLANKLINE>
    """
    if root is None:
        from abaw.cli import cli

        root = cli
    contexts = list(walk_commands(root, prog_name))
    lines = [
        "# Command reference",
        "",
        f"Generated from the `{prog_name}` click commands by `{REGENERATE_COMMAND}`; do not edit it by hand.",
        f"`{CHECK_COMMAND}` (and the test suite) fails when it is stale.",
        "Every command also takes `-h` / `--help`, which prints the same text.",
        "",
    ]
    lines += [f"- [`{ctx.command_path}`](#{_anchor(ctx.command_path)}): {_short_help(ctx.command)}" for ctx in contexts]
    for ctx in contexts:
        lines += ["", *command_section(ctx)]
    return "\n".join(lines) + "\n"


def walk_commands(root: click.Command, prog_name: str) -> Iterator[click.Context]:
    """A context for ``root`` and for every visible command below it, depth first.

    Subcommands are found through ``list_commands`` and ``get_command``, which
    a group that loads its commands lazily answers too.

    Example:
        >>> @click.group()
        ... def tool():
        ...     pass
        >>> @tool.command()
        ... def run():
        ...     pass
        >>> [ctx.command_path for ctx in walk_commands(tool, "tool")]
        ['tool', 'tool run']
    """
    yield from _walk(click.Context(root, info_name=prog_name))


def _walk(ctx: click.Context) -> Iterator[click.Context]:
    yield ctx
    for sub_ctx in _subcommand_contexts(ctx):
        yield from _walk(sub_ctx)


def _subcommand_contexts(ctx: click.Context) -> list[click.Context]:
    group = ctx.command
    if not isinstance(group, click.Group):
        return []
    contexts = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            contexts.append(click.Context(command, info_name=name, parent=ctx))
    return contexts


def command_section(ctx: click.Context) -> list[str]:
    """The lines of one command's section: heading, usage, help, subcommands, parameter table.

    Example:
        >>> ctx = click.Context(click.Command("go", help="Go."), info_name="go")
        >>> print("\\n".join(command_section(ctx)))
        ## `go`
        <BLANKLINE>
        ```text
        go [OPTIONS]
        ```
        <BLANKLINE>
        Go.
    """
    command = ctx.command
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    lines = [f"## `{ctx.command_path}`", "", "```text", usage, "```"]
    for paragraph in help_paragraphs(command.help or ""):
        lines += ["", paragraph]
    if command.deprecated:
        lines += ["", "*Deprecated.*"]
    subcommands = _subcommand_contexts(ctx)
    if subcommands:
        links = ", ".join(f"[`{sub.command_path}`](#{_anchor(sub.command_path)})" for sub in subcommands)
        lines += ["", f"Commands: {links}."]
    params = [param for param in command.params if not getattr(param, "hidden", False)]
    if params:
        lines += ["", "| name | type | default | description |", "|---|---|---|---|"]
        lines += [parameter_row(param, ctx) for param in params]
    return lines


def help_paragraphs(text: str) -> list[str]:
    r"""A click help text as Markdown paragraphs, as ``--help`` shows it but never wrapped.

    The text is cut at a form feed (``\f``), as click cuts it. Lines of a
    paragraph are joined; a paragraph that click prints verbatim (its first
    line is ``\b``) becomes a code block.

    Example:
        >>> help_paragraphs("Write RUN_DIR/*.pt files.\n  Then stop.\n\n\b\nabaw a\nabaw b\n\fInternal.")
        ['Write RUN\\_DIR/\\*.pt files. Then stop.', '```text\nabaw a\nabaw b\n```']
    """
    text = inspect.cleandoc(text).partition("\f")[0]
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        block_lines = block.splitlines()
        if not block_lines:
            continue
        if block_lines[0].strip() == "\b":
            paragraphs.append("\n".join(["```text", *block_lines[1:], "```"]))
        else:
            paragraphs.append(_escape_block_opening(markdown_text(" ".join(line.strip() for line in block_lines))))
    return paragraphs


def markdown_text(text: str) -> str:
    """``text`` with the characters Markdown (and a table cell) would read as markup escaped.

    Example:
        >>> print(markdown_text("*total_number_of_frames*.txt | <name>"))
        \\*total\\_number\\_of\\_frames\\*.txt \\| \\<name>
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _escape_block_opening(paragraph: str) -> str:
    """``paragraph`` kept a paragraph: a heading, quote or list opening escaped.

    Example:
        >>> print(_escape_block_opening("# 1 s"), _escape_block_opening("2. step"), _escape_block_opening("- x"))
        \\# 1 s 2\\. step \\- x
    """
    if _BLOCK_OPENING.match(paragraph):
        return "\\" + paragraph
    # A backslash before the digits would be printed; Markdown escapes the full stop instead.
    return _ORDERED_LIST_OPENING.sub(r"\1\\", paragraph, count=1)


def parameter_row(param: click.Parameter, ctx: click.Context) -> str:
    """One table row: the parameter's names, type, default and help (its stated default moved to its column).

    Example:
        >>> option = click.Option(["--mode"], type=click.Choice(["a", "b"]), help="Mode [default: a].")
        >>> parameter_row(option, click.Context(click.Command("x")))
        '| `--mode` | `a`, `b` | a | Mode. |'
    """
    help_text = getattr(param, "help", None) or ""
    default = shown_default(param, ctx)
    stated = _STATED_DEFAULT.search(help_text)
    if stated:
        help_text = _STATED_DEFAULT.sub("", help_text, count=1)
        if not isinstance(getattr(param, "show_default", None), str):
            default = markdown_text(stated.group(1))
    help_cell = markdown_text(" ".join(help_text.split()))
    return f"| {parameter_names(param)} | {describe_type(param)} | {default} | {help_cell} |"


def parameter_names(param: click.Parameter) -> str:
    """An option's flags (``--causal`` / ``--no-causal`` for an on/off pair), or an argument's metavar.

    Example:
        >>> parameter_names(click.Option(["-q", "--quiet"], is_flag=True))
        '`-q`, `--quiet`'
        >>> parameter_names(click.Argument(["pred"]))
        '`PRED`'
    """
    if isinstance(param, click.Argument):
        return f"`{param.metavar or (param.name or '').upper()}`"
    names = ", ".join(f"`{name}`" for name in _short_first(param.opts))
    if param.secondary_opts:
        names += " / " + ", ".join(f"`{name}`" for name in _short_first(param.secondary_opts))
    return names


def _short_first(names: Sequence[str]) -> list[str]:
    # As --help lists them: -q before --quiet, whatever order they were declared in.
    return sorted(names, key=lambda name: len(name) - len(name.lstrip("-/")))


def describe_type(param: click.Parameter) -> str:
    """What a parameter takes, in words: choices, a metavar, or the type with its range; then how many, required.

    Example:
        >>> describe_type(click.Option(["--jobs"], type=click.IntRange(min=1), required=True))
        'integer, x>=1, required'
        >>> describe_type(click.Option(["--frames"], type=click.Path(exists=True, file_okay=False), multiple=True))
        'existing directory, repeatable'
        >>> describe_type(click.Option(["--weights"], metavar="W1,W2,..."))
        '`W1,W2,...`'
    """
    if isinstance(param, click.Option) and param.count:
        words = ["count"]
    elif isinstance(param, click.Option) and param.is_flag:
        words = ["flag"]
    elif isinstance(param.type, click.Choice):
        words = [", ".join(f"`{_choice_text(choice)}`" for choice in param.type.choices)]
    elif param.metavar and isinstance(param, click.Option):
        words = [f"`{param.metavar}`"]
    else:
        words = [_type_words(param.type)]
    if param.multiple:
        words.append("repeatable")
    if param.nargs == -1:
        words.append("any number")
    elif param.nargs > 1:
        words.append(f"{param.nargs} values")
    if param.required:
        words.append("required")
    return ", ".join(words)


def _choice_text(choice: object) -> str:
    return choice.name if isinstance(choice, enum.Enum) else str(choice)


def _type_words(param_type: click.ParamType) -> str:
    if isinstance(param_type, click.Path):
        kind = "directory" if not param_type.file_okay else "file" if not param_type.dir_okay else "path"
        return f"existing {kind}" if param_type.exists else kind
    if isinstance(param_type, click.IntRange | click.FloatRange):
        base = "integer" if isinstance(param_type, click.IntRange) else "float"
        return f"{base}, {_range_text(param_type)}"
    return param_type.name


def _range_text(param_type: click.IntRange | click.FloatRange) -> str:
    """The range as click's ``--help`` writes it (``x>=1``, ``0.0<=x<=0.8``, ``0<=x<1``)."""
    low = None if param_type.min is None else ("<" if param_type.min_open else "<=")
    high = None if param_type.max is None else ("<" if param_type.max_open else "<=")
    if low and high:
        return f"{param_type.min}{low}x{high}{param_type.max}"
    if low:
        return f"x{'>' if param_type.min_open else '>='}{param_type.min}"
    if high:
        return f"x{high}{param_type.max}"
    return "any"


def shown_default(param: click.Parameter, ctx: click.Context) -> str:
    """The default as ``--help`` shows it, or ``""`` where it shows none.

    A ``show_default`` string is shown as written; a value only with
    ``show_default=True`` (on the option or the context).

    Example:
        >>> ctx = click.Context(click.Command("x"))
        >>> shown_default(click.Option(["--jobs"], default=4, show_default="the CPU cores"), ctx)
        'the CPU cores'
        >>> shown_default(click.Option(["--jobs"], default=4, show_default=True), ctx)
        '4'
        >>> shown_default(click.Option(["--jobs"], default=4), ctx)
        ''
    """
    show = getattr(param, "show_default", None)
    if isinstance(show, str):
        return markdown_text(show)
    if show is None:
        show = ctx.show_default
    if not show:
        return ""
    value = param.get_default(ctx, call=False)
    if value is None or value is getattr(click.core, "UNSET", object()):
        return ""
    return markdown_text(_value_text(param, value))


def _value_text(param: click.Parameter, value: object) -> str:
    if isinstance(param, click.Option) and param.is_bool_flag:
        if param.secondary_opts:
            return (param.opts if value else param.secondary_opts)[0].lstrip("-/")
        return "true" if value else ""
    if callable(value):
        return "(dynamic)"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, enum.Enum):
        return value.name
    if value == "":
        return '""'
    return str(value)


def _short_help(command: click.Command) -> str:
    # A limit far above any first sentence: the summary must not depend on a width.
    return markdown_text(command.get_short_help_str(limit=10_000))


def _anchor(heading: str) -> str:
    """The fragment GitHub gives a heading (``abaw predict-test`` -> ``abaw-predict-test``)."""
    kept = re.sub(r"[^\w\- ]", "", heading.lower())
    return kept.replace(" ", "-")


def main(argv: Sequence[str] | None = None) -> int:
    """Write the reference to a file, or with ``--check`` exit 1 when the file differs from it.

    Args:
        argv: The arguments, ``[--check] PATH`` (default: the process's).

    Returns:
        The exit status: 0, or 1 when ``--check`` finds the file stale or missing.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "commands.md"
        >>> main([str(target)]), main(["--check", str(target)])
        (0, 0)
    """
    parser = argparse.ArgumentParser(
        prog="python -m abaw.cli.reference",
        description="Write the abaw command reference (Markdown), or check that a file holds it.",
    )
    parser.add_argument("path", type=Path, help="the Markdown file, e.g. docs/commands.md")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file is stale")
    args = parser.parse_args(argv)
    reference = command_reference()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.is_file() else None
        if current == reference:
            return 0
        state = "is missing" if current is None else "is stale"
        print(f"{args.path} {state}: regenerate it with python -m abaw.cli.reference {args.path}", file=sys.stderr)
        return 1
    # force: the reference is always regenerated whole, and holds nothing to lose.
    atomic_write_text(args.path, reference, force=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
