"""The kinds of rows. Every module in this package registers one ``RowType`` subclass with
``@register``; ``load()`` imports them all, so adding a kind of row is adding a file here."""

from __future__ import annotations

import importlib
import pkgutil

from .base import ROW_ALIASES, ROW_TYPES, RowType, register  # noqa: F401  (the registry's public names)


def load() -> dict[str, type[RowType]]:
    """Every row kind of this package, in table order (``RowType.order``, then name)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
    ordered = sorted(ROW_TYPES.values(), key=lambda cls: (cls.order, cls.name))
    return {cls.name: cls for cls in ordered}
