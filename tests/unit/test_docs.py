"""The docs cannot drift from the code: every `askdocs` command and option that README.md and the
pages under docs/ show exists in the CLI, every route they name is a route of the app, and no file
of the repository speaks of how it was built instead of what it does."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from api.app import create_app
from askdocs.cli import app as cli_app
from core.settings import Settings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
# The pages people read; the generated ones (settings, API reference) have tests of their own.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"(?:^|[\s/])askdocs ([a-z][^\n]*)")
ROUTE = re.compile(
    r"\b((?:GET|POST|PUT|PATCH|DELETE)(?:\|(?:GET|POST|PUT|PATCH|DELETE))*) (/[^\s`,;)]*)"
)


def code_of(text: str) -> list[str]:
    """The code a page shows: each line of its fenced blocks and each inline code span."""
    blocks = FENCE.findall(text)
    lines = [line for b in blocks for line in b.splitlines()]
    rest = FENCE.sub("", text)
    return lines + SPAN.findall(rest)


def shown_commands() -> list[tuple[str, str]]:
    """(page, the words after `askdocs`) for every askdocs command the pages show."""
    out = []
    for page in PAGES:
        for code in code_of(page.read_text()):
            for m in COMMAND.finditer(code):
                out.append((page.name, m.group(1)))
    return out


def words(command: str) -> list[str]:
    """Words of a shown command, up to where the shell command ends; placeholders kept."""
    command = command.replace("\\|", "|").split(" #")[0]
    command = re.split(r"\s(?:&&|\|\||;|>)\s", command)[0]
    try:
        parts = shlex.split(command)
    except ValueError:  # an unclosed quote in a shortened example
        parts = command.split()
    return [p.strip("[]") for p in parts if p.strip("[]")]


def is_group(cmd: Any) -> bool:
    return hasattr(cmd, "commands")  # a click (or typer's own click) group


def resolve(group: Any, parts: list[str]) -> tuple[Any, list[str], list[str]]:
    """The command the words name, the path to it, and the words left for its options."""
    cmd = group
    path: list[str] = []
    while is_group(cmd) and parts and not parts[0].startswith("-"):
        sub = cmd.commands.get(parts[0])
        if sub is None:
            break
        cmd, path, parts = sub, [*path, parts[0]], parts[1:]
    return cmd, path, parts


def options_of(cmd: Any) -> set[str]:
    names = {"--help"}
    for p in cmd.params:
        names.update(p.opts)
        names.update(p.secondary_opts)
    return names


def test_the_pages_show_commands_and_routes():
    assert len(shown_commands()) > 20
    assert len(shown_routes()) > 20


def test_every_shown_command_and_option_exists():
    root = typer.main.get_command(cli_app)
    assert is_group(root)
    wrong = []
    for page, command in shown_commands():
        cmd, path, rest = resolve(root, words(command))
        if not path:
            wrong.append(f"{page}: askdocs {command} (no such command)")
            continue
        if is_group(cmd):
            if rest and rest[0] not in ("...", "--help"):
                wrong.append(f"{page}: askdocs {command} (no subcommand {rest[0]!r})")
            continue
        known = options_of(cmd)
        for word in rest:
            flag = word.split("=", 1)[0]
            if flag.startswith("-") and flag not in known:
                wrong.append(f"{page}: askdocs {command} (no option {flag})")
    assert wrong == []


def test_every_command_of_the_cli_answers_help():
    """`--help` of each command the pages show runs (in this process, through click's runner)."""
    from typer.testing import CliRunner

    root = typer.main.get_command(cli_app)
    paths = set()
    for _page, command in shown_commands():
        _cmd, path, _rest = resolve(root, words(command))
        if path:
            paths.add(tuple(path))
    runner = CliRunner()
    for path in sorted(paths):
        result = runner.invoke(cli_app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def shown_routes() -> list[tuple[str, str, str]]:
    """(page, method, path) for every route the pages name in code."""
    out = []
    for page in PAGES:
        if page.name in ("api.md", "access-matrix.md"):  # generated from the app itself
            continue
        for code in code_of(page.read_text()):
            for m in ROUTE.finditer(code):
                path = re.sub(r"\[?\?.*$", "", m.group(2)).rstrip("]")
                for variant in expand(path):
                    for method in m.group(1).split("|"):
                        out.append((page.name, method, variant))
    return out


def expand(path: str) -> list[str]:
    """`/conversations[/{id}]` -> `/conversations` and `/conversations/{id}`."""
    m = re.search(r"\[([^\]]*)\]", path)
    if not m:
        return [path]
    head, tail = path[: m.start()], path[m.end() :]
    return expand(head + tail) + expand(head + m.group(1) + tail)


def shape(path: str) -> str:
    """A path with its parameters unnamed: `/documents/{id}` and `/documents/{document_id}` match."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path shape) of every HTTP route of the app: its OpenAPI operations, and the routes
    outside the schema (FastAPI's own documentation pages)."""
    keys = {
        (method.upper(), shape(path))
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method.upper() in METHODS
    }
    for r in app.routes:
        keys |= {(m, shape(r.path)) for m in getattr(r, "methods", None) or () if m in METHODS}
    return keys


def test_every_shown_route_is_a_route_of_the_app(tmp_path):
    routes = app_routes(create_app(Settings(data_dir=tmp_path)))
    assert ("POST", "/documents") in routes and ("GET", "/documents/{}") in routes
    missing = sorted(
        {f"{page}: {method} {path}" for page, method, path in shown_routes()}
        - {
            f"{page}: {method} {path}"
            for page, method, path in shown_routes()
            if (method, shape(path)) in routes
        }
    )
    assert missing == []


def test_every_variable_the_pages_name_is_read_somewhere():
    """An `ASKDOCS_*` variable the pages name is a setting, or one the code reads (the CLI's
    source token, the tests' own): a removed or renamed setting cannot stay in the docs."""
    settings = {f"ASKDOCS_{n.upper()}" for n in Settings.model_fields}
    code = "\n".join(
        p.read_text() for p in tracked_files() if p.suffix in (".py", ".sh") and p.is_file()
    )
    unknown = sorted(
        f"{page.name}: {name}"
        for page in PAGES
        for name in set(re.findall(r"ASKDOCS_[A-Z0-9_]+", page.read_text()))
        if name not in settings and name not in code
    )
    assert unknown == []


def test_every_metric_the_pages_name_is_defined():
    """A Prometheus metric the pages name is one the code defines (core/metrics.py, or read at
    scrape time in api/metrics.py); counters are named with their `_total` suffix."""
    code = (ROOT / "core" / "metrics.py").read_text() + (ROOT / "api" / "metrics.py").read_text()
    defined = set(re.findall(r'"(askdocs_[a-z_]+)"', code))
    named = {
        name
        for page in PAGES
        for code_text in code_of(page.read_text())
        for name in re.findall(r"\baskdocs_[a-z_]+\b", code_text)
    }
    assert len(named) > 10
    unknown = sorted(
        n for n in named if n not in defined and n.removesuffix("_total") not in defined
    )
    assert unknown == []


# Words about how the project was built rather than what it does: the build's stages ("stops"),
# sessions and rounds. Chosen so that ordinary words ("stop the service", "it stops") never match.
HISTORY = re.compile(
    r"\b(?:this|the last|last|an earlier|earlier|the next|next|previous|a later|later|"
    r"at one|at earlier|two|three) stops?\b(?! (?:the|it|them|a|an|its|all|when|at|here)\b)"
    r"|\bstops? ago\b|\ba stop's\b|\bstop's machine\b|\bthis round\b"
    # the build's session, not the browser's (the web page keeps "this session's API client")
    r"|\b(?:to|during|at|by|for|of) this session\b|\bthis session (?:was|had|ran|measured)\b"
    r"|\bearlier rounds?\b",
    re.I,
)


def tracked_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [ROOT / n.decode() for n in names if n]


def test_no_file_speaks_of_how_it_was_built():
    here = Path(__file__).resolve()
    found = []
    for path in tracked_files():
        if path == here or not path.is_file() or path.suffix in (".png", ".pdf", ".gguf"):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if HISTORY.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert found == []


@pytest.mark.parametrize(
    "line",
    [
        "measured at this stop on the new machine",
        "the last stop's runs",
        "an earlier stop's machine",
        "as at earlier stops",
        "Rerun at a later stop on an AVX-512 machine",
        "no GPU was lent to this session",
        "measured during this session",
        "at an earlier round",
        "profiled in one process (two stops ago)",
    ],
)
def test_the_history_words_are_found(line):
    assert HISTORY.search(line)


@pytest.mark.parametrize(
    "line",
    [
        "Ctrl-C stops all of them.",
        "a run stops at ASKDOCS_SOURCES_RUN_SECONDS",
        "stop the service first",
        "the next step",
        "kept in this session under key",
        "the sign-in, this session's API client",
        "Lower-case words of text but stop words.",
    ],
)
def test_ordinary_words_are_not(line):
    assert not HISTORY.search(line)
