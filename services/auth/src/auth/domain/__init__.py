"""Auth rules: no I/O."""
