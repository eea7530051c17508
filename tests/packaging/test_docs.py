"""The README and docs/ describe what the code has: every ``avhubert-*`` command they mention exists, every ``--flag``
is one its command parses, every relative link resolves, every repository path and ``avhubert_ami.*`` name they
cite exists, and the README stays a front page (at most 200 lines, the demo table between its markers).

Commands are read from fenced code blocks and inline code: a flag belongs to the command before it on the same
line (``\\`` continuations joined). Flags of fairseq, hydra and other tools are not ours to check; a flag in prose
or in a shell comment must be one of our parsers' flags or a listed foreign one. Parsers are captured from the
commands themselves: ``main()`` runs until it asks argparse to parse, and that parser is kept.
"""

from __future__ import annotations

import argparse
import importlib
import re
import runpy
import sys
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple
from unittest import mock

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
#: the documents whose commands and flags must be current (CHANGELOG.md is history: links only)
CURRENT_DOCS = [README, REPO / "README-technical.md"] + sorted((REPO / "docs").glob("*.md"))
LINKED_DOCS = CURRENT_DOCS + [REPO / "CHANGELOG.md"]
#: documents another part of the project writes; a link to one is checked once it exists
PENDING = {"RESULTS.md": "rendered by scripts/render_results.py from docs/measurements/"}

#: flags of other tools that the docs name in prose or comments (fairseq, hydra, Dask, SLURM)
FOREIGN_FLAGS = {
    "--ami-wer-normalizer",
    "--cer-normalizer",
    "--config-dir",
    "--ctc-weight",
    "--lm-path",
    "--lm-weight",
    "--nthreads",
    "--nworkers",
    "--preload",
    "--required-batch-size-multiple",
    "--scoring",
    "--user-dir",
}
#: commands whose flags are not ours
FOREIGN_COMMANDS = re.compile(r"^(fairseq-[\w-]+|pip|dask|sbatch|#SBATCH|meeteval-wer|git|make|python3?)$")
PACKAGE_NAME = "avhubert-ami"  # the distribution, not a command
#: names that stand for any command, file or module in the docs (``avhubert_ami/cli/NAME.py``, ``preprocess.X``)
PLACEHOLDERS = {"NAME", "X", "DIR", "OUT", "ID", "MEETING", "LMDIR", "CKPT"}


# ---- reading the documents ----------------------------------------------------------------------------------------
def _split_code(text: str) -> Tuple[List[str], str]:
    """(fenced code blocks, the prose with the blocks blanked out)."""
    blocks, prose, inside, current = [], [], False, []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if inside:
                blocks.append("\n".join(current))
                current = []
            inside = not inside
            prose.append("")
        elif inside:
            current.append(line)
            prose.append("")
        else:
            prose.append(line)
    return blocks, "\n".join(prose)


def _code_lines(block: str) -> Iterator[Tuple[str, str]]:
    """(command text, comment) of each logical line of a shell block."""
    for line in re.sub(r"\\\n", " ", block).splitlines():
        if line.lstrip().startswith("#SBATCH"):  # a directive: sbatch's flags
            yield line, ""
        else:
            code, _, comment = line.partition("#")
            yield code, comment


INLINE = re.compile(r"`([^`]+)`")  # may wrap onto the next line


def _inline_code(prose: str) -> List[str]:
    return [span.replace("\n", " ") for span in INLINE.findall(prose)]


FLAG = re.compile(r"--[A-Za-z][\w-]*")


_PUNCTUATION = "`'\"$()[]{},;|"


def _tokens(text: str) -> List[str]:
    return [t.strip(_PUNCTUATION) for t in re.split(r"[\s=]+", text) if t.strip(_PUNCTUATION)]


def _placeholder(name: str) -> bool:
    return bool(re.search(r"[<{*]", name)) or any(part in PLACEHOLDERS for part in re.split(r"[/.]", name))


# ---- our parsers --------------------------------------------------------------------------------------------------
class _Parsed(Exception):
    """Raised instead of parsing: the parser has been captured."""


def _capture(run: Callable[[], object]) -> argparse.ArgumentParser:
    """The first parser ``run()`` asks to parse."""
    captured: List[argparse.ArgumentParser] = []

    def parse_known_args(self, args=None, namespace=None):
        captured.append(self)
        raise _Parsed

    with mock.patch.object(argparse.ArgumentParser, "parse_known_args", parse_known_args):
        try:
            run()
        except _Parsed:
            pass
    assert captured, "the command never parsed its flags"
    return captured[0]


def _flags(parser: argparse.ArgumentParser) -> Set[str]:
    return {s for action in parser._actions for s in action.option_strings if s.startswith("--")}


@lru_cache(maxsize=None)
def _command_flags(command: str) -> Optional[frozenset]:
    """Flags of our command ``avhubert-NAME``, ``preprocess.NAME`` / ``avhubert_ami.cli.NAME`` (``python -m``), a
    script path (``scripts/X.py``, ``benchmarks/X.py``, ``finetune_avhubert_ami.py``); None when it is not ours."""
    import avhubert_ami

    if command.startswith("avhubert-"):
        assert command in avhubert_ami.COMMAND_LINE_SCRIPTS, f"{command}: no such command"
        module = "avhubert_ami.cli." + command[len("avhubert-") :].replace("-", "_")
        return frozenset(_flags(_capture(lambda: importlib.import_module(module).main([]))))
    m = re.fullmatch(r"(?:preprocess|avhubert_ami\.cli)\.(\w+)", command)
    if m:
        if command.startswith("preprocess."):
            assert (REPO / "preprocess" / f"{m[1]}.py").is_file(), f"python -m {command}: no such shim"
        return frozenset(_flags(_capture(lambda: importlib.import_module(f"avhubert_ami.cli.{m[1]}").main([]))))
    if command.endswith(".py"):
        path = REPO / command
        assert path.is_file(), f"{command}: no such script"
        argv, sys_path, modules = sys.argv, list(sys.path), set(sys.modules)
        sys.argv = [str(path)]
        try:
            return frozenset(_flags(_capture(lambda: runpy.run_path(str(path), run_name="__main__"))))
        finally:  # the script's own imports (its folder's modules, sys.path entries) must not leak into other tests
            sys.argv, sys.path[:] = argv, sys_path
            for name in set(sys.modules) - modules:
                if str(REPO / command.split("/")[0]) in str(getattr(sys.modules[name], "__file__", "") or ""):
                    del sys.modules[name]
    return None


def _command_of(token: str, previous: str, following: str) -> Optional[str]:
    """The command a token starts, if any (``python -m X``, ``python FILE.py`` and ``make demo`` look at their
    neighbours); ``any`` for a placeholder name (its flags must be some command's)."""
    ours = (
        (re.fullmatch(r"avhubert-[a-z0-9-]*[a-z0-9]", token) and token != PACKAGE_NAME)
        or (previous == "-m" and re.fullmatch(r"(preprocess|avhubert_ami\.cli)\.\w+", token))
        or (previous in ("python", "python3") and token.endswith(".py"))
    )
    if ours:
        return "any" if _placeholder(token) else token
    if token == "make" and following == "demo":
        return "scripts/run_demo.py"  # `make demo DEMO_ARGS="..."` passes its flags to the demo script
    if FOREIGN_COMMANDS.match(token):
        return "foreign"
    return None


def _uses(text: str) -> Iterator[Tuple[Optional[str], Optional[str]]]:
    """(command or None, flag) for every flag in one line of code, each flag with the command before it, and
    (command, None) where a command starts."""
    tokens = _tokens(text)
    command: Optional[str] = None
    for i, tok in enumerate(tokens):
        started = _command_of(tok, tokens[i - 1] if i else "", tokens[i + 1] if i + 1 < len(tokens) else "")
        if started:
            command = started
            yield command, None
        for flag in FLAG.findall(tok) if tok.startswith("--") else []:
            yield command, flag


def _all_uses() -> Iterator[Tuple[Path, Optional[str], Optional[str]]]:
    for doc in CURRENT_DOCS:
        blocks, prose = _split_code(doc.read_text(encoding="utf-8"))
        texts = [(code, True) for block in blocks for code, _ in _code_lines(block)]
        texts += [(comment, False) for block in blocks for _, comment in _code_lines(block)]
        texts += [(span, True) for span in _inline_code(prose)]
        texts += [(INLINE.sub(" ", prose), False)]
        for text, may_name_command in texts:
            for command, flag in _uses(text):
                yield doc, command if may_name_command else None, flag


def _mentioned_commands() -> Set[str]:
    found = set()
    for doc in CURRENT_DOCS:
        for word in re.findall(r"(?<![\w/.-])avhubert-[a-z0-9-]*[a-z0-9]", doc.read_text(encoding="utf-8")):
            if word != PACKAGE_NAME:
                found.add(word)
    return found


# ---- (a) commands and flags ---------------------------------------------------------------------------------------
def test_every_mentioned_command_exists():
    import avhubert_ami

    unknown = sorted(_mentioned_commands() - set(avhubert_ami.COMMAND_LINE_SCRIPTS))
    assert not unknown, f"commands the docs mention that setup.py does not install: {unknown}"


def test_every_flag_is_parsed_by_its_command():
    uses = list(_all_uses())
    ours: Set[str] = set()
    for command in sorted({c for _, c, _ in uses if c not in (None, "foreign", "any")} | _mentioned_commands()):
        ours |= _command_flags(command)
    wrong = []
    for doc, command, flag in uses:
        if command == "foreign" or flag is None:
            continue
        if command in (None, "any"):
            if flag not in ours and flag not in FOREIGN_FLAGS:
                wrong.append(f"{doc.relative_to(REPO)}: {flag} (no command of ours has it)")
        elif flag not in _command_flags(command):
            wrong.append(f"{doc.relative_to(REPO)}: {command} {flag}")
    assert not wrong, "flags the docs mention that their command does not parse:\n" + "\n".join(sorted(set(wrong)))


def test_flag_check_catches_a_wrong_flag():
    """The reader attributes flags to the command before them (so the check above can fail)."""
    uses = [u for u in _uses("avhubert-decode --path X --tune_weights && fairseq-generate /d --lm-weight 0.2") if u[1]]
    assert uses == [("avhubert-decode", "--path"), ("avhubert-decode", "--tune_weights"), ("foreign", "--lm-weight")]
    assert "--lm-weight" not in _command_flags("avhubert-decode")
    assert "--lm_weight" in _command_flags("avhubert-decode")
    assert list(_uses('make demo DEMO_ARGS="--size tiny"')) == [
        ("scripts/run_demo.py", None),
        ("scripts/run_demo.py", "--size"),
    ]


# ---- (b) links ----------------------------------------------------------------------------------------------------
def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation (backticks, colons, apostrophes) dropped, spaces to
    hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(doc: Path) -> Set[str]:
    _, prose = _split_code(doc.read_text(encoding="utf-8"))
    seen: Dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", prose, flags=re.M):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_every_relative_link_resolves():
    broken = []
    for doc in LINKED_DOCS:
        _, prose = _split_code(doc.read_text(encoding="utf-8"))
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            path_part, _, anchor = target.partition("#")
            path = (doc.parent / path_part).resolve() if path_part else doc
            rel = path.relative_to(REPO).as_posix() if REPO in path.parents or path == REPO else str(path)
            if not path.exists():
                if rel not in PENDING:
                    broken.append(f"{doc.relative_to(REPO)}: {target}")
                continue
            if anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{doc.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("name", sorted(PENDING))
def test_pending_documents(name):
    if not (REPO / name).is_file():
        pytest.skip(f"{name} is not in this tree yet ({PENDING[name]}); links to it are checked once it is")


# ---- paths and module names the docs cite ------------------------------------------------------------------------
def _cited(pattern: str) -> Set[Tuple[str, str]]:
    out = set()
    for doc in CURRENT_DOCS:
        _, prose = _split_code(doc.read_text(encoding="utf-8"))
        for span in _inline_code(prose) + _split_code(doc.read_text(encoding="utf-8"))[0]:
            for m in re.finditer(pattern, span):
                if not _placeholder(m.group(0)):
                    out.add((doc.relative_to(REPO).as_posix(), m.group(0)))
    return out


def test_every_cited_repository_path_exists():
    paths = _cited(r"\b(?:avhubert_ami|scripts|benchmarks|conf|preprocess|docs)/[\w./-]*\w")
    missing = sorted(f"{doc}: {p}" for doc, p in paths if not (REPO / p.rstrip(".")).exists())
    assert paths and not missing, "paths the docs cite that do not exist:\n" + "\n".join(missing)


def test_every_cited_module_name_resolves():
    names = _cited(r"(?<![\w./])avhubert_ami(?:\.[A-Za-z_]\w*)+")
    unresolved = []
    for doc, name in sorted(names):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                unresolved.append(f"{doc}: {name}")
            break
    assert names and not unresolved, "names the docs cite that do not exist:\n" + "\n".join(unresolved)


# ---- (c) the README is a front page --------------------------------------------------------------------------------
def test_readme_is_at_most_200_lines():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= 200, f"README.md has {n} lines: move detail to docs/ (the README is the front page)"


def test_readme_has_one_demo_table_block():
    text = README.read_text(encoding="utf-8")
    begin, end = "<!-- demo-table:begin -->", "<!-- demo-table:end -->"
    assert text.count(begin) == 1 and text.count(end) == 1 and text.index(begin) < text.index(end)
