"""INFO, built from a registry of section providers, and TIME.

A section provider is a function of the session returning the section's fields (name to value,
in order). Any module adds fields without touching this one::

    @info_section("persistence")
    def _persistence(session: Session) -> InfoFields:
        return {"aof_enabled": 1, "rdb_changes_since_last_save": 0}

Several providers may fill one section (their fields follow one another in the order they
were registered), so a layer can add, say, ``stats`` fields next to the built-in ones. Sections
are shown in Redis's order (:data:`SECTION_ORDER`), then any others in registration order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kvstore.commands.context import Session
from kvstore.commands.table import Args, command
from kvstore.protocol.replies import Reply, Verbatim

InfoFields = Mapping[str, "str | int"]
SectionProvider = Callable[[Session], InfoFields]

#: Redis's order of sections; a section not listed follows these.
SECTION_ORDER = (
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
)
_TITLES = {"cpu": "CPU"}


@dataclass
class _Section:
    default: bool  # shown by a bare INFO (and INFO default)
    providers: list[SectionProvider] = field(default_factory=list)


_SECTIONS: dict[str, _Section] = {}


def info_section(
    name: str, *, default: bool = True
) -> Callable[[SectionProvider], SectionProvider]:
    """Register the decorated function as a provider of fields for section ``name``.

    ``default`` says whether a bare ``INFO`` shows the section; the section's first provider
    decides it.
    """

    def register(provider: SectionProvider) -> SectionProvider:
        _SECTIONS.setdefault(name.lower(), _Section(default)).providers.append(provider)
        return provider

    return register


def _ordered_sections() -> list[str]:
    known = [name for name in SECTION_ORDER if name in _SECTIONS]
    return known + [name for name in _SECTIONS if name not in SECTION_ORDER]


def _wanted(requested: Args) -> set[str]:
    """The section names a request asks for: ``all``/``everything``, ``default`` (also what
    no names means) and individual names, case-insensitive; unknown names select nothing."""
    if not requested:
        return {name for name, section in _SECTIONS.items() if section.default}
    wanted: set[str] = set()
    for raw in requested:
        name = raw.decode("utf-8", "replace").lower()
        if name in ("all", "everything"):
            wanted.update(_SECTIONS)
        elif name == "default":
            wanted.update(name for name, section in _SECTIONS.items() if section.default)
        else:
            wanted.add(name)
    return wanted


def section_fields(session: Session, name: str) -> dict[str, str | int]:
    """One section's fields, as INFO shows them (empty for an unknown section); the metrics
    page reads its figures through this."""
    fields: dict[str, str | int] = {}
    section = _SECTIONS.get(name)
    for provider in section.providers if section is not None else ():
        fields.update(provider(session))
    return fields


def render_info(session: Session, requested: Args) -> str:
    """The INFO text for the requested sections, laid out as Redis 7 does: each section a
    ``# Title`` line and ``field:value`` lines, a blank line between sections."""
    wanted = _wanted(requested)
    sections: list[str] = []
    for name in _ordered_sections():
        if name not in wanted:
            continue
        lines = [f"# {_TITLES.get(name, name.capitalize())}\r\n"]
        for provider in _SECTIONS[name].providers:
            lines.extend(f"{key}:{value}\r\n" for key, value in provider(session).items())
        sections.append("".join(lines))
    return "\r\n".join(sections)


@command(
    "info",
    -1,
    "loading stale",
    group="server",
    summary="Describe the server's state.",
    tips="nondeterministic_output request_policy:all_shards response_policy:special",
    acl="dangerous",
)
def info(session: Session, args: Args) -> Reply:
    return Verbatim(render_info(session, args[1:]).encode())


@command(
    "time",
    1,
    "loading stale fast",
    group="server",
    summary="The server's clock.",
    tips="nondeterministic_output",
)
def time_(session: Session, args: Args) -> Reply:
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return [str(seconds).encode(), str(micros).encode()]
