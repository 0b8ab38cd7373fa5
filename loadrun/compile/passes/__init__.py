"""Graph passes that reshape the IR before serialization (docs/compile.md)."""
