"""Built-in optimizers, one file each; each registers itself on import."""
