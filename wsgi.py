"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

import sys

from clinic_app import create_app
from clinic_app.config import ConfigError
from clinic_app.core.memory import keep_long_lived_out_of_collections

try:
    app = create_app()
except ConfigError as error:
    sys.stderr.write(f"Configuration error: {error}\n")
    sys.exit(1)
# A serving process: its long-lived objects stay out of full garbage collections (core/memory.py).
keep_long_lived_out_of_collections(app)
