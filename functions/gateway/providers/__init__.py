"""Provider adapters: one file per provider, found by its ``type``.

Adding a provider is writing one module in this package with an
:class:`~gateway.providers.base.Adapter` subclass; it is discovered by type
the first time any adapter is looked up.
"""

from __future__ import annotations

import importlib
import pkgutil

from gateway.providers.base import Adapter

_adapters: dict[str, type[Adapter]] = {}


def _subclasses(cls: type[Adapter]) -> list[type[Adapter]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def adapters() -> dict[str, type[Adapter]]:
    """Every adapter class by its ``type``."""
    if not _adapters:
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
        _adapters.update({cls.type: cls for cls in _subclasses(Adapter) if getattr(cls, "type", None)})
    return _adapters


def adapter_class(provider_type: str) -> type[Adapter] | None:
    return adapters().get(provider_type)
