"""Lazy package namespaces (PEP 562): ``import protfusion`` costs nothing until a name is used.

Each package's ``__init__`` lists its public names in a mapping ``name -> defining module`` and calls
:func:`lazy_exports`; ``from pkg import Name`` and ``pkg.Name`` then import the defining module on first use.
A name whose module is the submodule of the same name without such an attribute (``protdata.transforms``)
exports the submodule itself.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any


class _LazyPackage(ModuleType):
    """A package module that keeps exported functions when a same-named submodule gets imported.

    Importing ``pkg.build`` binds the submodule as ``pkg.build`` -- which would hide an exported function
    ``build`` defined in it. The eager ``from pkg.build import build`` of a plain ``__init__`` rebinds the
    function afterwards; this does the same at binding time.
    """

    _lazy_exports: Mapping[str, str]

    def __setattr__(self, name: str, value: Any) -> None:
        exports = self.__dict__.get("_lazy_exports", {})
        if (
            isinstance(value, ModuleType)
            and exports.get(name) == value.__name__
            and value.__name__ == f"{self.__name__}.{name}"
            and name in value.__dict__
        ):
            value = value.__dict__[name]
        super().__setattr__(name, value)


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Make ``package`` resolve ``exports`` (public name -> absolute module) on first access.

    Returns the module-level ``__getattr__`` and ``__dir__`` to bind in the package's ``__init__``.
    """
    module = sys.modules[package]
    module.__class__ = _LazyPackage
    module._lazy_exports = dict(exports)

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        defining = importlib.import_module(target)
        try:
            value = getattr(defining, name)  # a lazy subpackage resolves its own exports
        except AttributeError:
            if target != f"{package}.{name}":
                raise AttributeError(
                    f"module {target!r} does not define {name!r}, exported by {package!r}"
                ) from None
            value = defining
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | set(exports))

    return __getattr__, __dir__
