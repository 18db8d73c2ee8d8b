"""What may be asked: the configured agencies and purposes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from hitmachine.core.principal import Permission, Principal
from hitmachine.http.api.auth import CtxDep, require
from hitmachine.http.schemas import AgencyOut, PurposeOut

router = APIRouter(prefix="/v1", tags=["catalogue"])
Reader = Annotated[Principal, Depends(require(Permission.READ_CATALOGUE))]


@router.get("/agencies", response_model=list[AgencyOut])
def list_agencies(ctx: CtxDep, _: Reader) -> list[AgencyOut]:
    return [AgencyOut(code=a.code, name=a.name, contact=a.contact) for a in ctx.agencies.values()]


@router.get("/purposes", response_model=list[PurposeOut])
def list_purposes(ctx: CtxDep, principal: Reader) -> list[PurposeOut]:
    """The purposes the caller may ask: research purposes (replays) for a researcher token
    only, and only those to it."""
    research = principal.may_research()
    return [PurposeOut(code=p.code, description=p.description, legal_basis=p.legal_basis.citation)
            for p in ctx.purposes.values() if p.allows_reference_date == research]
