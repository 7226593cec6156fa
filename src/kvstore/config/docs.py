"""``python -m kvstore.config.docs > docs/config.md``: the options reference, from the dataclass.

Every field of :class:`kvstore.config.ServerConfig` becomes one entry, so a new option is
documented by its metadata alone; a test fails while docs/config.md is out of date.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from kvstore.config.options import ServerConfig

REGENERATE = "python -m kvstore.config.docs > docs/config.md"

_INTRO = f"""\
# Configuration reference

<!-- Generated from src/kvstore/config/options.py by `{REGENERATE}`; do not edit by hand. -->

Every option can be given three ways; the first found wins:

1. a command-line flag (`--log-level debug`);
2. an environment variable (`KVSTORE_LOG_LEVEL=debug`);
3. a key in the TOML file named by `--config FILE` (or `KVSTORE_CONFIG`): the option's name
   with underscores or dashes (`log_level = "debug"` or `log-level = "debug"`), a TOML integer,
   string, boolean or array of strings as fits; an unknown key stops the server with an error
   naming it.

Otherwise the default applies. Options marked *runtime* can be changed on a running server with
`CONFIG SET name value` (names with dashes, as `CONFIG GET` shows them), and take effect at once;
the others are refused with `ERR CONFIG SET failed (possibly related to argument 'name') -
can't set immutable config` (unless set to the value they have, which changes nothing and is
accepted, as tools that write back what `CONFIG GET` gave them expect; `databases` is refused
even so, as in Redis, and so is `daemonize`, which `CONFIG GET` shows as `no`: kvstore never
forks into the background). `CONFIG SET` changes the running server only: the file is not
rewritten.

Example file (`kvstore.toml`):

```toml
bind = ["0.0.0.0"]
port = 5000
dir = "/var/lib/kvstore"
appendfsync = "everysec"
log-format = "json"
# the password: better from KVSTORE_PASSWORD or requirepass-file than written here
```
"""


def _default(item: dataclasses.Field[Any]) -> str:
    if item.default_factory is not dataclasses.MISSING:
        value = item.default_factory()
    else:
        value = item.default
    if isinstance(value, bool):
        return "`false`" if not value else "`true`"
    if isinstance(value, list):
        return "`" + " ".join(value) + "`" if value else "(none)"
    return f"`{value}`" if value != "" else "(empty)"


def render() -> str:
    lines = [_INTRO, "| option | flag | environment | default | runtime |", "|---|---|---|---|---|"]
    for item in dataclasses.fields(ServerConfig):
        runtime = "yes" if item.metadata.get("runtime") else "no"
        lines.append(
            f"| [{item.name.replace('_', '-')}](#{item.name.replace('_', '-')}) "
            f"| `{ServerConfig.flag_name(item.name)}` | `{ServerConfig.env_name(item.name)}` "
            f"| {_default(item)} | {runtime} |"
        )
    lines.append("")
    for item in dataclasses.fields(ServerConfig):
        meta = item.metadata
        name = item.name.replace("_", "-")
        flag = ServerConfig.flag_name(item.name)
        lines.append(f"## {name}\n")
        text = str(meta["help"])
        lines.append(text[:1].upper() + text[1:] + ".\n")
        lines.append(
            f"- flag: `{flag}`" + (" (a switch)" if isinstance(item.default, bool) else "")
        )
        lines.append(f"- environment: `{ServerConfig.env_name(item.name)}`")
        lines.append(f"- TOML key: `{item.name}`" if meta["in_file"] else "- TOML key: none")
        lines.append(f"- default: {_default(item)}")
        if meta.get("choices"):
            lines.append("- values: " + ", ".join(f"`{c}`" for c in meta["choices"]))
        lines.append("- runtime (CONFIG SET): " + ("yes" if meta.get("runtime") else "no"))
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
