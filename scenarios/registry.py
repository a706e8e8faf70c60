"""Finding scenarios: built-ins and plugins through the ``vret.scenarios`` entry-point group,
and single files by path.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."vret.scenarios"]
    lighthouse = "my_package.lighthouse:Lighthouse"

A scenario that fails to import, or whose definition is broken, fails loudly: the error names
the scenario (or file), and the field or the exception that broke it.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from importlib.metadata import entry_points
from pathlib import Path

from pydantic import ValidationError

from scenarios.base import Scenario
from scenarios.spec import ScenarioSpec

GROUP = "vret.scenarios"


class ScenarioError(Exception):
    """A scenario could not be found, imported or validated; the message says which and why."""


def _describe(exc: BaseException, path: Path | None = None) -> str:
    if isinstance(exc, SyntaxError):
        return f"syntax error at line {exc.lineno}: {exc.msg}"
    where = ""
    if path is not None:  # the line of the scenario file that raised, for its developer
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__)
                 if Path(f.filename).resolve() == path.resolve()]
        where = f"line {lines[-1]}: " if lines else ""
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors()[:5]:
            loc = ".".join(str(p) for p in error["loc"])
            if loc and exc.title != "ScenarioSpec":
                loc = f"{exc.title}.{loc}"  # e.g. Parameter.rate: which model, which field
            msg = error["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return where + "; ".join(parts)
    return f"{where}{type(exc).__name__}: {exc}"


def check_class(cls: object, origin: str) -> type[Scenario]:
    """Check that ``cls`` is a usable scenario class; raise :class:`ScenarioError` if not."""
    if not (inspect.isclass(cls) and issubclass(cls, Scenario)):
        raise ScenarioError(f"{origin}: {cls!r} is not a subclass of scenarios.base.Scenario")
    spec = getattr(cls, "spec", None)
    if not isinstance(spec, ScenarioSpec):
        raise ScenarioError(f"{origin}: {cls.__name__}.spec must be a ScenarioSpec "
                            f"(got {type(spec).__name__})")
    for hook in ("load", "update"):
        if getattr(cls, hook) is getattr(Scenario, hook):
            raise ScenarioError(f"{origin}: {cls.__name__} does not implement {hook}()")
    return cls


def available() -> dict[str, str]:
    """Installed scenario names and where each comes from (``module:Class``)."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def load_named(name: str) -> type[Scenario]:
    """The scenario class registered as ``name``."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        known = ", ".join(sorted(available())) or "none"
        raise ScenarioError(f"no scenario named {name!r}; installed: {known}")
    try:
        cls = found[0].load()
    except Exception as exc:
        raise ScenarioError(f"scenario {name!r} ({found[0].value}) failed to load: "
                            f"{_describe(exc)}") from exc
    checked = check_class(cls, f"scenario {name!r}")
    if checked.spec.name != name:
        raise ScenarioError(f"scenario {name!r}: its spec is named {checked.spec.name!r}")
    return checked


def load_file(path: Path) -> type[Scenario]:
    """The one scenario class defined in a Python file."""
    if not path.is_file():
        raise ScenarioError(f"{path}: no such file")
    module_name = f"vret_scenario_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ScenarioError(f"{path}: {_describe(exc, path)}") from exc
    classes = [obj for obj in vars(module).values()
               if inspect.isclass(obj) and issubclass(obj, Scenario) and obj is not Scenario
               and obj.__module__ == module_name]
    if len(classes) != 1:
        raise ScenarioError(f"{path}: expected one Scenario subclass, found "
                            f"{[c.__name__ for c in classes] or 'none'}")
    return check_class(classes[0], str(path))


def load(name_or_path: str) -> type[Scenario]:
    """A scenario class by registered name, or from a ``.py`` file path."""
    if name_or_path.endswith(".py") or "/" in name_or_path:
        return load_file(Path(name_or_path))
    return load_named(name_or_path)
