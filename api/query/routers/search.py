"""Search across what the caller may see."""

from __future__ import annotations

from ninja import Query, Router

from api.query.auth import AuthedRequest
from api.query.responses import ERRORS
from api.query.schemas import SearchOut, SearchParams
from api.query.selectors.search import search

router = Router(tags=["search"])


@router.get("/search", response={200: SearchOut, **ERRORS})
def search_view(request: AuthedRequest, params: Query[SearchParams]) -> dict:
    """Conferences, participants (by their application ids and names), apps
    and organizations (by name) of the caller's organizations, best match
    first, each once."""
    return {"matches": search(user=request.auth, query=params.query)}
