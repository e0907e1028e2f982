"""One partner simulator: it records what it receives, de-duplicates on the idempotency
key the way a real partner would (409 for a repeat, and it counts them), answers KEDO
look-ups from the demo population, sends its own messages to the hub signed, and takes
fault switches.

    GET  /_sim/received    what it received, oldest first, and the duplicate count
    GET  /_sim/state       what it holds now (police subscriptions and notices, crisis
                           Flags, …)
    POST /_sim/faults      {"latency_ms": 0, "error_rate": 0.0, "down": false,
                            "poison": ["…"]}  (a body holding one of these: always 503)
    POST /_sim/send        Injus: {"kind": "START", "bsn": "…", "event_id": "…"};
                           the others: their own message (a ZVH event, a transfer
                           notice, a police, Iris or crisis signal) as JSON
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from standardwebhooks import Webhook

from hub.connectors.runtime.signing import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, key
from hub.core.errors import ContractError
from hub.core.json_limits import read_json
from hub.simulators.population import kedo_answer, person


class Faults(BaseModel):
    latency_ms: int = Field(0, ge=0, le=60_000)
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    down: bool = False
    poison: list[str] = Field(
        default_factory=list,
        description="A request whose body holds any of these answers 503, every time.",
    )
    refuse_next: int = Field(
        0, ge=0, le=1000, description="The next N requests answer 400 (invalid): a refusal."
    )


class SendCommand(BaseModel):
    kind: str = "START"
    bsn: str
    event_id: str = Field(default_factory=lambda: f"INJUS-SIM-{uuid.uuid4().hex[:12]}")
    facility_code: str = "PI-AMS"
    facility_name: str = "PI Amsterdam"
    previous_facility_code: str = "PI-VUG"
    date: dt.date = Field(default_factory=lambda: dt.datetime.now(dt.UTC).date())
    release_municipality: str | None = None


@dataclass
class SimState:
    name: str
    received: list[dict[str, Any]] = field(default_factory=list)
    seen_keys: set[str] = field(default_factory=set)
    duplicates: int = 0
    faults: Faults = field(default_factory=Faults)
    resources: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None
    """The webhook secret it signs with (the one the hub was configured with for it)."""


def injus_xml(command: SendCommand) -> bytes:
    found = person(command.bsn)
    name = found.name if found else "Onbekend"
    born = found.born if found else "1990-01-01"
    municipality = found.municipality if found else "GM0363"
    parts = [
        f"<eventId>{command.event_id}</eventId>",
        f"<type>{command.kind}</type>",
        f"<bsn>{command.bsn}</bsn>",
        "<skn>SKN-SIM</skn>",
        f"<naam>{name}</naam>",
        f"<geboortedatum>{born}</geboortedatum>",
        f"<gemeente>{municipality}</gemeente>",
        f"<inrichting><code>{command.facility_code}</code>"
        f"<naam>{command.facility_name}</naam></inrichting>",
        f"<datum>{command.date.isoformat()}</datum>",
        "<titel>voorlopige hechtenis</titel>",
    ]
    if command.kind == "OVERPLAATSING":
        parts.append(
            f"<vorigeInrichting><code>{command.previous_facility_code}</code>"
            "<naam>Vorige PI</naam></vorigeInrichting>"
        )
    if command.kind == "EINDE":
        parts.append(
            f"<gemeenteVanUitstroom>{command.release_municipality or municipality}"
            "</gemeenteVanUitstroom>"
        )
    body = "".join(parts)
    return f'<DetentieGebeurtenis versie="1">{body}</DetentieGebeurtenis>'.encode()


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def partner_signed(secret: str, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers as a partner makes them with the reference library
    (``standardwebhooks``), not with the hub's own code: the demo shows that they agree."""
    message_id = f"msg_{uuid.uuid4().hex}"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signature = Webhook(key(secret)).sign(message_id, now, body.decode("utf-8"))
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(int(now.timestamp())),
        SIGNATURE_HEADER: signature,
    }


def make_simulator(
    name: str, *, hub_url: str | None = None, secret: str | None = None, seed: int = 7
) -> FastAPI:
    """The simulator app for partner ``name`` (one of ``runner.PARTNERS``); ``hub_url``
    and ``secret`` let it send to the hub's webhook."""
    app = FastAPI(title=f"{name} simulator", docs_url=None, redoc_url=None)
    state = SimState(name, secret=secret)
    rng = random.Random(seed)
    app.state.sim = state

    async def apply_faults(request: Request | None = None) -> Response | None:
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        if state.faults.down or rng.random() < state.faults.error_rate:
            return JSONResponse({"status": 503}, status_code=503)
        if state.faults.poison and request is not None:
            body = (await request.body()).decode("utf-8", "replace")
            if any(needle in body for needle in state.faults.poison):
                return JSONResponse({"status": 503, "poisoned": True}, status_code=503)
        if state.faults.refuse_next and request is not None and request.method != "GET":
            state.faults.refuse_next -= 1
            return JSONResponse({"status": 400, "refused": True}, status_code=400)
        return None

    @app.get("/_sim/received")
    async def received() -> dict[str, Any]:
        return {"received": state.received, "duplicates": state.duplicates}

    @app.post("/_sim/faults")
    async def faults(settings: Faults) -> Faults:
        state.faults = settings
        return state.faults

    @app.post("/_sim/send")
    async def send(request: Request) -> dict[str, Any]:
        """Injus: a SendCommand, rendered as its XML. The others: the message itself, as
        JSON. Either is signed and posted to the hub."""
        connector = SENDS_TO.get(name)
        if hub_url is None or state.secret is None or connector is None:
            return {"sent": False, "reason": "this simulator sends nothing"}
        raw = await request.body()
        if name == "injus":
            body = injus_xml(SendCommand.model_validate_json(raw or b"{}"))
            kind = "application/xml"
        elif _is_utf8(raw):
            body, kind = raw, "application/json"
        else:
            return {"sent": False, "reason": "a partner's JSON is UTF-8; this body is not"}
        headers = {**partner_signed(state.secret, body), "Content-Type": kind}
        async with httpx.AsyncClient(base_url=hub_url, timeout=10) as client:
            answer = await client.post(
                f"/connectors/{connector}/messages", content=body, headers=headers
            )
        return {"sent": True, "status": answer.status_code, "answer": answer.json()}

    @app.get("/api/regie/{bsn}")
    async def regie(bsn: str) -> Response:
        failed = await apply_faults()
        if failed is not None:
            return failed
        found = person(bsn)
        if found is None:
            return JSONResponse({"status": 404}, status_code=404)
        return JSONResponse(kedo_answer(found))

    @app.get("/_sim/state")
    async def current() -> dict[str, Any]:
        """What the partner holds now: police subscriptions (``/api/abonnementen/{id}``)
        and notices (``/api/meldingen/{meldingId}``), crisis Flags, Iris meldingen."""
        return {"resources": state.resources}

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def partner_api(path: str, request: Request) -> Response:
        failed = await apply_faults(request)
        if failed is not None:
            return failed
        if request.method == "GET":
            return JSONResponse({"status": "ok"})
        key = request.headers.get("idempotency-key", "")
        if key and key in state.seen_keys:
            state.duplicates += 1
            return JSONResponse({"status": 409, "duplicate": key}, status_code=409)
        raw = await request.body()
        body = _body(raw) if request.method != "DELETE" else None
        if request.method != "DELETE" and body is None:
            return JSONResponse({"status": 400}, status_code=400)
        if key:
            state.seen_keys.add(key)
        state.received.append(
            {
                "path": "/" + path,
                "method": request.method,
                "idempotency_key": key,
                "traceparent": request.headers.get("traceparent"),
                "received_at": dt.datetime.now(dt.UTC).isoformat(),
                "body": body,
            }
        )
        return _hold(state, "/" + path, request.method, body)

    return app


def _body(raw: bytes) -> Any:
    """JSON (within the hub's limits) as JSON, XML as its text; None for anything else."""
    try:
        return read_json(raw)
    except ContractError:
        text = raw.decode("utf-8", "replace").lstrip()
        return {"xml": text} if text.startswith("<") else None


def _hold(state: SimState, path: str, method: str, body: Any) -> Response:
    """Keep what a PUT, a DELETE, a FHIR transaction or a police notice (``POST
    /meldingen``, held under its ``meldingId``) leaves at the partner, as the partner
    system would, and answer as it would."""
    if method == "PUT":
        state.resources[path] = body
        return JSONResponse(body, status_code=200)
    if method == "DELETE":
        if state.resources.pop(path, None) is None:
            return JSONResponse({"status": 404}, status_code=404)
        return Response(status_code=204)
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        answers = []
        for entry in body.get("entry", []):
            request = entry.get("request", {})
            if request.get("method") == "PUT":
                state.resources[request.get("url", "")] = entry.get("resource")
            answers.append({"response": {"status": "200 OK"}})
        return JSONResponse(
            {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}
        )
    if state.name == "politie" and path.endswith("/meldingen") and isinstance(body, dict):
        notice = str(body.get("meldingId") or len(state.received))
        state.resources[f"{path}/{notice}"] = body
        return JSONResponse({"status": 201, "meldingId": notice}, status_code=201)
    if isinstance(body, dict) and "xml" in body:
        state.resources[f"{path}#{len(state.received)}"] = body
    return JSONResponse({"status": 201}, status_code=201)


SENDS_TO = {
    "injus": "injus-detentie",
    "zvh": "zvh-events",
    "pi": "pi-transfers",
    "politie": "politie-signalen",
    "reclassering": "reclassering-iris-signals",
    "crisis": "crisis-contacten",
}
"""Which inbound connector each sending simulator posts to."""
