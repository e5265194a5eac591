"""Test helpers: the project's own encoder for fixtures (M-Bus telegrams, APDUs)."""
