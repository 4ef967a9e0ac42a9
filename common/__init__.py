"""Code both services share: the contracts between them, logging and settings helpers."""
