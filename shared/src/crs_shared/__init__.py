"""Shared library of the Candidate Results Service."""
