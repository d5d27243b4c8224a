"""One module per dashboard; each has ``NAME`` (its file and uid suffix) and ``build(config)``."""
