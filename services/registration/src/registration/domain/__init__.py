"""Registration rules: no I/O."""
