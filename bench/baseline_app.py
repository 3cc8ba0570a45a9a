"""The bare baseline for benchmarks: Flask with one JSON route and nothing else.

The bench harness serves this under the same gunicorn settings as the clinic app, so the ratio
app/baseline shows what the app's own stack (hooks, access control, pydantic, logging, database
session) costs on top of Flask, gunicorn and the machine.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "healthy", "version": "baseline"}
