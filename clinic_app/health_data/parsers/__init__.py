"""Streaming parsers for activity files; every error names the line it found it on."""
