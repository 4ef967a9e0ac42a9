"""Repository tooling that is not part of either service."""
