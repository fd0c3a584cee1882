"""Networks a model bundle can hold: a registry from architecture name to how to rebuild it.

A bundle stores an architecture *name* and its constructor keyword arguments (plain JSON), never a
pickled class: loading looks the name up here and calls the constructor, so a bundle cannot make
emofast import or run anything that is not in this table.

PathNet is not registered: a trained PathNet is a module population plus a chosen pathway and task
head (``predict_proba(x, genotypes)``), and nothing in emofast trains a final PathNet to deploy yet.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from emofast.errors import InputError

__all__ = ["Architecture", "ARCHITECTURES", "architecture"]


@dataclass(frozen=True)
class Architecture:
    """How to rebuild one kind of network from JSON settings.

    Attributes
    ----------
    name : str
        Name stored in bundles (the class name).
    module, cls : str
        Where the class lives (imported on first use).
    """

    name: str
    module: str
    cls: str

    def model_class(self) -> type:
        """The ``torch.nn.Module`` subclass."""
        return getattr(importlib.import_module(self.module), self.cls)

    def build(self, settings: dict[str, Any]) -> Any:
        """A fresh network from its keyword arguments, in evaluation mode.

        Raises
        ------
        InputError
            Settings the constructor does not accept.
        """
        try:
            return self.model_class()(**settings).eval()
        except (TypeError, ValueError) as exc:
            raise InputError(f"{self.name} settings {settings} are not valid: {exc}") from None

    @staticmethod
    def input_shape(settings: dict[str, Any]) -> tuple[int, ...]:
        """Shape of one input row (one segment or face crop), e.g. ``(3, 64, 64)``."""
        size = _int_setting(settings, "input_size", 64)
        return _int_setting(settings, "in_channels", 3), size, size

    @staticmethod
    def n_classes(settings: dict[str, Any]) -> int:
        """Number of outputs."""
        return _int_setting(settings, "n_classes")


def _int_setting(settings: dict[str, Any], name: str, default: int | None = None) -> int:
    """``settings[name]`` as an int (InputError when absent without a default, or not an int)."""
    value = settings.get(name, default) if isinstance(settings, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"settings need an integer {name}, got {value!r}")
    return value


#: Architecture name -> how to rebuild it. Only these can be saved and loaded.
ARCHITECTURES: dict[str, Architecture] = {
    "GroupNormCNN": Architecture("GroupNormCNN", "emofast.nn.cnn", "GroupNormCNN"),
}


def architecture(name: str) -> Architecture:
    """The registered :class:`Architecture` called ``name`` (InputError naming the known ones)."""
    if name not in ARCHITECTURES:
        raise InputError(f"unknown architecture {name!r}; a bundle can hold {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]
