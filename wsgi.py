"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

import sys

from clinic_app import create_app
from clinic_app.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.stderr.write(f"Configuration error: {error}\n")
    sys.exit(1)
