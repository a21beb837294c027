"""Built-in backends, one file each; each registers itself on import.

This package shares its name with ``gdbench.backends()``, the registry's function: it is
callable and answers as that function does (``registry.callable_package``)."""

from gdbench.registry import callable_package

callable_package(__name__)
