"""The layers wired together for a stream of bytes."""
