"""The argument parser of every command line and of the library's flag tables: ``--help`` shows each flag's default,
a mistyped flag is answered with the closest known one. Nothing here imports fairseq or torch."""

from __future__ import annotations

import argparse
from typing import Optional


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions keep their layout; every flag with a default shows it (``(default: 5)``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        # identity, not ``in``: a default of 0 or 0.0 equals False and is worth showing
        unset = action.default is None or action.default is False or action.default is argparse.SUPPRESS
        if "%(default)" in text or unset or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def command_parser(prog: str, description: Optional[str]) -> argparse.ArgumentParser:
    """The parser of the command ``prog`` (its console script name): ``--help`` shows ``description`` as laid
    out, and the defaults; a mistyped flag is answered with the closest known flag."""
    return SuggestingParser(prog=prog, description=description, formatter_class=HelpFormatter)


class SuggestingParser(argparse.ArgumentParser):
    """argparse, plus "did you mean --lm_weight?" for an unknown flag (``--lm-weight``)."""

    def error(self, message: str):  # noqa: D102 - argparse's
        if message.startswith("unrecognized arguments:"):
            hints = [h for h in (self._suggest(a) for a in message.split(":", 1)[1].split()) if h]
            if hints:
                message += " (did you mean " + ", ".join(hints) + "?)"
        super().error(message)

    def _suggest(self, arg: str) -> Optional[str]:
        import difflib

        if not arg.startswith("-"):
            return None
        flag = arg.split("=", 1)[0]
        # hidden spellings (old aliases) are accepted, never suggested
        known = [
            s for a in self._actions if a.help is not argparse.SUPPRESS for s in a.option_strings if s.startswith("--")
        ]
        normalised = {k.replace("-", "_"): k for k in known}
        if flag.replace("-", "_") in normalised:
            return normalised[flag.replace("-", "_")]
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.75)
        return close[0] if close else None
