"""Changing options while the server runs (``CONFIG SET``): checks, then hooks that apply.

The options that may change are the fields marked ``runtime=True`` in :mod:`kvstore.config.options`.
Whoever must act on a change (the log level, the fsync policy, the password...) registers a hook
with :meth:`RuntimeConfig.on_change`; a change runs the hooks of each option it set, once, after
every value was checked and assigned, so a refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kvstore.config.options import ConfigError, ServerConfig, convert_setting, field_by_name

#: Called with the configuration after the option changed.
Hook = Callable[[ServerConfig], None]
#: Called with an option's new value before anything is changed: the reason it is refused,
#: or None.
Check = Callable[[Any], str | None]


#: Options Redis itself refuses to change while it runs, even to the value they have.
IMMUTABLE = frozenset({"databases", "daemonize"})


class UnknownSettingError(ConfigError):
    """No option has this name."""


class SettingRefusedError(ConfigError):
    """The option exists but cannot take this value now; ``name`` is the one at fault."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(reason)
        self.name = name
        self.reason = reason


class RuntimeConfig:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._hooks: dict[str, list[Hook]] = {}
        self._checks: dict[str, Check] = {}

    def check_with(self, name: str, check: Check) -> None:
        """Refuse a value of option ``name`` for which ``check`` gives a reason."""
        item = field_by_name(name)
        if item is None or not item.metadata.get("runtime"):
            raise ValueError(f"{name} is not an option that can change at run time")
        self._checks[item.name] = check

    def on_change(self, name: str, hook: Hook) -> None:
        """Run ``hook`` whenever option ``name`` (a field name) is changed."""
        item = field_by_name(name)
        if item is None or not item.metadata.get("runtime"):
            raise ValueError(f"{name} is not an option that can change at run time")
        self._hooks.setdefault(item.name, []).append(hook)

    def set(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Set each ``(name, value)``; all or nothing."""
        values: dict[str, Any] = {}
        shown = self.config.settings()
        for name, raw in pairs:
            item = field_by_name(name)
            # An option kvstore cannot change while it runs (Redis can: bind, port...), set to
            # the value it has, changes nothing and is accepted; tools that write back what
            # CONFIG GET gave them rely on it.
            unchanged = shown.get(name.lower()) == raw and name.lower() not in IMMUTABLE
            if item is None:
                if unchanged:
                    continue
                if name.lower() in IMMUTABLE and name.lower() in shown:
                    raise SettingRefusedError(name, "can't set immutable config")
                raise UnknownSettingError(name)
            if item.name in values:
                raise SettingRefusedError(name, "duplicate parameter")
            if not item.metadata.get("runtime"):
                if unchanged:
                    continue
                raise SettingRefusedError(name, "can't set immutable config")
            choices = item.metadata.get("choices")
            if choices and raw not in choices:
                raise SettingRefusedError(
                    name,
                    "argument must be 'yes' or 'no'"
                    if tuple(choices) == ("yes", "no")
                    else "argument(s) must be one of the following: " + ", ".join(choices),
                )
            if _plain_integer(item) and not _is_integer(raw):
                raise SettingRefusedError(name, "argument couldn't be parsed into an integer")
            try:
                values[item.name] = convert_setting(item, raw)
            except ConfigError as exc:
                raise SettingRefusedError(name, str(exc)) from None
            check = self._checks.get(item.name)
            reason = None if check is None else check(values[item.name])
            if reason is not None:
                raise SettingRefusedError(name, reason)
        for field_name, value in values.items():
            setattr(self.config, field_name, value)
        for field_name in values:
            for hook in self._hooks.get(field_name, ()):
                hook(self.config)


def _plain_integer(item: Any) -> bool:
    """An integer option that is not a size (sizes take 100mb and the like)."""
    return type(item.default) is int and not item.metadata.get("size")


def _is_integer(raw: str) -> bool:
    try:
        int(raw)
    except ValueError:
        return False
    return True
