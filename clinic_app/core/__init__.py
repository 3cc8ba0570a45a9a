"""Cross-cutting pieces every feature uses. Nothing here imports a feature package."""
