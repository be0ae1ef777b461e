"""Results service."""
