"""Helpers the tests share: the real infrastructure they start, and polling with deadlines."""
