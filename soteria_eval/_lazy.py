"""Lazy exports for subpackages: a name is imported from its module on first use.

``from soteria_eval.did import twfe`` then imports only :mod:`soteria_eval.did.twfe` and
what it needs, not every estimator of the subpackage (PEP 562 module ``__getattr__``).

Where a function shares its module's name (``soteria_eval.did.twfe``), the package
attribute is the function, as with eager imports: the import system's binding of the
submodule onto the package is replaced by the function of that name.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from importlib import import_module
from types import ModuleType
from typing import Any


class _LazyPackage(ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        exports: Mapping[str, str] = self.__dict__.get("_EXPORTS", {})
        if isinstance(value, ModuleType) and exports.get(name) == name:
            value = getattr(value, name)  # the submodule has run to its end: bind its function
        super().__setattr__(name, value)


def lazy_package(package: str, exports: Mapping[str, str]) -> None:
    """Make ``package`` export ``{name: submodule}`` lazily (call at the end of its ``__init__``)."""
    module = sys.modules[package]
    namespace = module.__dict__

    def __getattr__(name: str) -> Any:
        sub = exports.get(name)
        if sub is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{sub}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    namespace["_EXPORTS"] = dict(exports)
    namespace["__getattr__"] = __getattr__
    namespace["__dir__"] = __dir__
    module.__class__ = _LazyPackage
