"""The web page and the A/B dashboard: static files in ``static/``, charts drawn here."""

from pathlib import Path

#: The HTML, CSS and JavaScript the gateway serves (no CDN, no external fonts).
STATIC_DIR = Path(__file__).resolve().parent / "static"
