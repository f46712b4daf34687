"""iovmodel."""
