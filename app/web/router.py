"""The planner's web page."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index() -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>promoplan</title>"
        "</head><body><h1>promoplan</h1><p>The API is described at "
        "<a href='/docs'>/docs</a>.</p></body></html>"
    )
