"""Built-in optimizers, one file each; each registers itself on import.

This package shares its name with ``gdbench.optimizers()``, the registry's function: importing
the package makes it the attribute ``gdbench.optimizers``, so the package is callable and
answers as the function does (``gdbench.optimizers()`` works before and after any import)."""

import sys
import types


class _Registry(types.ModuleType):
    def __call__(self):
        from gdbench import registry

        return registry.optimizers()


sys.modules[__name__].__class__ = _Registry
