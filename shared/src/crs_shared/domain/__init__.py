"""Pure rules that more than one service applies. No I/O."""
