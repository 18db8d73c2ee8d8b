"""The household query: known or not known, and at which agencies."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from hitmachine.core.principal import Permission, Principal
from hitmachine.http.api.auth import require
from hitmachine.http.api.problems import request_id
from hitmachine.http.api.routes.signals import follow_up_out
from hitmachine.http.schemas import HouseholdAnswerOut, HouseholdQueryIn, Problem
from hitmachine.services import query as query_service
from hitmachine.services.context import Context

router = APIRouter(prefix="/v1/queries", tags=["queries"])
Querier = Annotated[Principal, Depends(require(Permission.QUERY, "query.household"))]
PROBLEMS: dict[int | str, dict[str, Any]] = {s: {"model": Problem, "content": {"application/problem+json": {}}}
            for s in (401, 403, 413, 422, 503)}


@router.post("/household", response_model=HouseholdAnswerOut, responses=PROBLEMS)
async def query_household(body: HouseholdQueryIn, request: Request,
                          principal: Querier) -> Response:
    """Ask whether the members of a household are known, and at which agencies.

    The answer is minimal by design: per member known / not known and the agencies (with
    their contact desk and the basis of the match); for the household the union. No dates,
    reasons or record counts. The audit record is committed before this answer is sent.

    An agency with an age rule (leerplicht, schuldhulp) counts a member's age only from a
    birth date its own data confirm: the asked BSN and date of birth must match its (BSN,
    birth date) pseudonym, or the name key (which holds the birth date) must match. A
    member asked without a date of birth lists those agencies in
    `unchecked_without_birth_date`. The same person twice in one query is refused (422).
    Research purposes (`replay`, `reference_date`) are for researcher tokens only (403).
    """
    ctx: Context = request.app.state.ctx
    query = body.to_query()
    # Nothing here blocks: household_async counts the limits and (on PostgreSQL) reads the
    # index and commits the audit record without a thread; what can only block (a SQLite
    # read, the key service) it runs in one worker-thread hop.
    answer = await query_service.household_async(ctx, principal, query, request_id(request))
    return Response(orjson.dumps(answer_document(answer)), media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def answer_document(answer: query_service.HouseholdAnswer) -> dict[str, Any]:
    """The wire form of an answer (the shape of ``HouseholdAnswerOut``), built directly: the
    answer is ours, so re-validating it through the response model only costs time."""
    doc = _answer_document(answer)
    if answer.follow_up is not None:
        doc["follow_up"] = follow_up_out(answer.follow_up).model_dump()
    return doc


def _answer_document(answer: query_service.HouseholdAnswer) -> dict[str, Any]:
    return {
        "query_id": answer.query_id,
        "members": [{"known": m.known,
                     "agencies": [{"code": a.code, "name": a.name, "contact": a.contact,
                                   "basis": a.basis} for a in m.agencies],
                     "unchecked_without_birth_date": list(m.unchecked)}
                    for m in answer.members],
        "household": {"agencies": list(answer.agencies), "agency_count": answer.agency_count,
                      "multi_agency": answer.multi_agency},
    }
