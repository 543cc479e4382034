"""``verify --endpoint URL --api-key K``: each sample also goes through the REST ingestion edge
(``python -m ingest``, ``POST /v1/events``), for producers that integrate over HTTP.

Each sample is one request (NDJSON of one line, or JSON when the payload spans lines), so every
answer is about one message. The edge must agree with the pipeline's verdict: accept what the
pipeline accepts (2xx), refuse what it rejects (422) for the same ``error_type``. Any other
answer (401/403: the key or its sources, 413, 429, 503) is reported as the edge's refusal.
Accepted samples are really published: point the kit at a staging or local edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract_tests.samples import Sample
from contract_tests.verify import Result


class EdgeError(Exception):
    """The endpoint could not be reached at all (a usage error for the CLI)."""


@dataclass
class EdgeVerdict:
    """What the edge answered for one sample."""

    status: int
    accepted: bool = False
    error_type: str | None = None
    path: str | None = None
    reason: str | None = None
    message_id: str | None = None

    def describe(self) -> str:
        if self.accepted:
            return f"accepted (HTTP {self.status}, message id {self.message_id})"
        if self.error_type:
            return f"rejected (HTTP {self.status}): {self.error_type} at {self.path}: {self.reason}"
        return f"refused (HTTP {self.status}): {self.reason}"


def send(samples: list[Sample], endpoint: str, api_key: str,
         timeout: float = 30.0) -> list[EdgeVerdict]:
    import requests

    url = endpoint.rstrip("/") + "/v1/events"
    session = requests.Session()
    verdicts = []
    for sample in samples:
        kind = "application/json" if b"\n" in sample.data else "application/x-ndjson"
        try:
            response = session.post(url, data=sample.data, timeout=timeout,
                                    headers={"X-API-Key": api_key, "content-type": kind})
        except requests.RequestException as exc:
            raise EdgeError(f"cannot reach the edge at {url}: {exc}") from None
        verdicts.append(_verdict(response))
    return verdicts


def _verdict(response) -> EdgeVerdict:
    try:
        body = response.json()
    except ValueError:
        return EdgeVerdict(response.status_code, reason=response.text[:200] or "no body")
    for accepted in body.get("accepted") or []:
        return EdgeVerdict(response.status_code, True, message_id=accepted.get("message_id"))
    for rejected in body.get("rejected") or []:
        return EdgeVerdict(response.status_code, error_type=rejected.get("error_type"),
                           path=rejected.get("path"), reason=rejected.get("reason"))
    message = (body.get("error") or {}).get("message", "no reason given")
    if response.status_code == 400:  # the body as a whole: the pipeline would not parse it
        return EdgeVerdict(400, error_type="malformed_body", path="$", reason=message)
    return EdgeVerdict(response.status_code, reason=message)


def problem(result: Result, verdict: EdgeVerdict) -> str | None:
    """Why the edge disagrees with the pipeline's verdict, or None when it agrees."""
    if result.accepted and not verdict.accepted:
        return f"edge: {verdict.describe()}, but the pipeline accepts it"
    if not result.accepted and verdict.accepted:
        return "edge: accepted it, but the pipeline rejects it"
    if not result.accepted and verdict.error_type is None:
        return f"edge: {verdict.describe()}"
    expected = result.outcome.error_type
    if (not result.accepted and verdict.error_type != "malformed_body"
            and verdict.error_type != expected):
        return f"edge: rejected as {verdict.error_type}, the pipeline as {expected}"
    return None


def merge(results: list[Result], verdicts: list[EdgeVerdict]) -> None:
    """Record the edge's answers on the results and add disagreements to their problems."""
    for result, verdict in zip(results, verdicts, strict=True):
        result.edge = verdict.describe()
        result.add_problem(problem(result, verdict))
