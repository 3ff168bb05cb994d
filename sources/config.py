"""Each kind's settings, validated where they enter (the API) and read back by the connectors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

Glob = Annotated[str, Field(min_length=1, max_length=256)]
Kind = Literal["folder", "web", "git"]

# What a git source ingests unless told otherwise: text a person wrote, and documents.
GIT_DEFAULT_INCLUDE = [
    "*.md",
    "*.markdown",
    "*.mdx",
    "*.rst",
    "*.txt",
    "*.adoc",
    "*.org",
    "*.ipynb",
    "*.pdf",
    "*.html",
    "*.htm",
    "*.docx",
    "*.pptx",
    "*.xlsx",
    "*.odt",
    "*.csv",
]


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include: list[Glob] = Field(
        default_factory=list, max_length=100, description="Only paths matching one of these."
    )
    exclude: list[Glob] = Field(
        default_factory=list, max_length=100, description="Never paths matching one of these."
    )


ABSOLUTE_PATH = r"^/[^\x00:]*$"  # no ":": dulwich reads host:path as an ssh address
# No `\s` in the pattern: regex engines disagree on what it holds (U+0085 passed the schema fuzzer's
# engine and failed pydantic's), so the characters a URL may not hold are listed: controls, spaces.
HTTP_URL = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][^\x00-\x20\x7f-\xa0]*)?$"


class FolderConfig(_Common):
    path: str = Field(
        min_length=1,
        max_length=4096,
        pattern=ABSOLUTE_PATH,
        description="A directory on the server (absolute).",
    )
    hidden: bool = Field(False, description="Also files and folders whose name starts with '.'.")
    marker: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        pattern=r"^[^/\x00]+$",
        description="A file that must be in the folder for a run to read it (say `.askdocs-share`): "
        "a share that is not mounted lacks it, and its run fails without deleting anything.",
    )

    @field_validator("path", mode="before")  # before the pattern: a reason a person can read
    @classmethod
    def _absolute(cls, v: object) -> object:
        if not isinstance(v, str):
            return v
        if not Path(v).is_absolute():
            raise ValueError("the folder must be an absolute path on the server")
        if ":" in v:
            raise ValueError("a server path may not contain ':'")
        return v


class WebConfig(_Common):
    url: str = Field(
        min_length=8,
        max_length=2048,
        pattern=HTTP_URL,
        description="Start page, or a sitemap (.xml) to read.",
    )
    max_depth: int = Field(2, ge=0, le=20, description="Links followed from the start page.")
    max_pages: int = Field(500, ge=1, le=100_000, description="Most pages and files per run.")
    allowed_hosts: list[Annotated[str, Field(max_length=253)]] = Field(
        default_factory=list, max_length=50, description="Hosts besides the start URL's."
    )

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the URL must be http(s)://host/...")
        return v


class GitConfig(_Common):
    url: str = Field(
        min_length=1,
        max_length=2048,
        pattern=rf"({HTTP_URL})|({ABSOLUTE_PATH})",
        description="An http(s) repository URL, or the path of a repository on the server.",
    )
    branch: str = Field("main", min_length=1, max_length=255, pattern=r"^[^\x00]+$")

    @field_validator("url", mode="before")  # before the pattern: a reason a person can read
    @classmethod
    def _where(cls, v: object) -> object:
        if not isinstance(v, str):
            return v
        parts = urlsplit(v)
        if parts.scheme in ("http", "https"):
            return v
        if parts.scheme == "" and Path(v).is_absolute():
            if ":" in v:  # dulwich would read host:path as an ssh address
                raise ValueError("a server path may not contain ':'")
            return v
        raise ValueError("a git source is an http(s) URL or an absolute path on the server")

    @property
    def local(self) -> bool:
        return urlsplit(self.url).scheme == ""


SourceConfig = FolderConfig | WebConfig | GitConfig
CONFIGS: dict[str, type[_Common]] = {"folder": FolderConfig, "web": WebConfig, "git": GitConfig}


def load(kind: str, raw: str | dict) -> SourceConfig:
    model = CONFIGS[kind]
    out = model.model_validate_json(raw) if isinstance(raw, str) else model.model_validate(raw)
    return out  # type: ignore[return-value]
