"""The web page (``/``) and the A/B dashboard (``/dashboard``): static files, no CDN."""

from fastapi import APIRouter
from fastapi.responses import FileResponse

from gateway.web import STATIC_DIR

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    """Price a listing, then say how accurate the price was."""
    return FileResponse(STATIC_DIR / "index.html")


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    """The live A/B dashboard; its data comes from ``GET /v1/dashboard``."""
    return FileResponse(STATIC_DIR / "dashboard.html")
