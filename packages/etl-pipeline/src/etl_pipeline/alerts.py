"""Alerts to a chat webhook when a run fails or a manifest is rejected (no Dagster here).

The webhook is ``ETL_ALERT_WEBHOOK_URL`` (Slack-compatible incoming webhook: a JSON body with
``text`` and ``blocks``); alerts are off when it is unset. The URL is a secret (whoever has it
can post to the channel), so it never appears in a log line, an exception or a repr: errors
name only the webhook's scheme and host. Links to the Dagster UI use ``DAGSTER_UI_BASE_URL``
(e.g. ``https://dagster.example.internal``) when set.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

WEBHOOK_ENV = "ETL_ALERT_WEBHOOK_URL"
UI_BASE_URL_ENV = "DAGSTER_UI_BASE_URL"
TIMEOUT_ENV = "ETL_ALERT_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT_S = 10.0
MAX_ERROR_CHARS = 2_500
"""Slack rejects section texts over 3000 characters; the error is cut well below that."""

_log = logging.getLogger(__name__)


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept the alert (the message never contains the webhook URL)."""


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go. ``webhook_url`` is excluded from the repr (it is a secret)."""

    webhook_url: str = field(repr=False)
    ui_base_url: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        parts = urlsplit(self.webhook_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{WEBHOOK_ENV} must be an http(s) URL (got a value with scheme "
                f"{parts.scheme or 'none'!r}); unset it to turn alerts off"
            )
        if not self.timeout_s > 0:
            raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlertSettings | None:
        """The settings, or ``None`` when ``ETL_ALERT_WEBHOOK_URL`` is unset (alerts off)."""
        env = os.environ if environ is None else environ
        url = env.get(WEBHOOK_ENV, "").strip()
        if not url:
            return None
        raw_timeout = env.get(TIMEOUT_ENV, "").strip()
        try:
            timeout = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT_S
        except ValueError:
            raise ValueError(f"{TIMEOUT_ENV} must be a number (got {raw_timeout!r})") from None
        base = env.get(UI_BASE_URL_ENV, "").strip().rstrip("/") or None
        return cls(webhook_url=url, ui_base_url=base, timeout_s=timeout)

    @property
    def webhook_host(self) -> str:
        """What may be logged about the webhook: scheme and host, no path or token."""
        parts = urlsplit(self.webhook_url)
        return f"{parts.scheme}://{parts.hostname}"


@dataclass(frozen=True)
class Alert:
    """One event worth a message: a failed run or a rejected manifest."""

    kind: str  # "run_failure" | "manifest_rejected"
    title: str
    error: str | None = None
    batch_id: str | None = None
    dataset_id: str | None = None
    location: str | None = None
    job_name: str | None = None
    run_id: str | None = None
    manifest_key: str | None = None
    links: Sequence[tuple[str, str]] = ()  # (label, url)


def run_url(ui_base_url: str | None, run_id: str | None) -> str | None:
    """The run's page in the Dagster UI, when the UI's address is known."""
    if not ui_base_url or not run_id:
        return None
    return f"{ui_base_url.rstrip('/')}/runs/{quote(run_id, safe='')}"


def _truncate(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 20].rstrip() + "\n… (truncated)"


def _escape(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def run_failure_alert(
    *,
    run_id: str,
    job_name: str,
    location: str | None,
    tags: Mapping[str, str],
    error: str | None,
    ui_base_url: str | None = None,
) -> Alert:
    """The alert for a failed run; batch and dataset come from the run's tags."""
    batch_id = tags.get("batch_id")
    link = run_url(ui_base_url, run_id)
    return Alert(
        kind="run_failure",
        title=f"Run failed: {job_name}" + (f" (batch {batch_id})" if batch_id else ""),
        error=error,
        batch_id=batch_id,
        dataset_id=tags.get("dataset_id") or tags.get("dagster/partition"),
        location=location,
        job_name=job_name,
        run_id=run_id,
        manifest_key=tags.get("manifest_key"),
        links=(("Dagster run", link),) if link else (),
    )


def rejection_alert(
    *,
    batch_id: str | None,
    dataset_id: str | None,
    manifest_key: str,
    error: str | None,
    location: str | None = None,
    archive_key: str | None = None,
) -> Alert:
    """The alert for a manifest the platform rejected (nothing ran)."""
    return Alert(
        kind="manifest_rejected",
        title="Manifest rejected" + (f": batch {batch_id}" if batch_id else f": {manifest_key}"),
        error=error,
        batch_id=batch_id,
        dataset_id=dataset_id,
        location=location,
        manifest_key=archive_key or manifest_key,
    )


def build_payload(alert: Alert) -> dict[str, Any]:
    """Slack-compatible webhook body: ``text`` (notification fallback) and ``blocks``."""
    facts = [
        ("Batch", alert.batch_id),
        ("Dataset", alert.dataset_id),
        ("Code location", alert.location),
        ("Job", alert.job_name),
        ("Run", alert.run_id),
        ("Manifest", alert.manifest_key),
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n{_escape(value)}"}
        for label, value in facts
        if value
    ]
    error = _truncate(alert.error.strip()) if alert.error else None
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    if error:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{_escape(error)}```"}}
        )
    if alert.links:
        links = " | ".join(f"<{url}|{_escape(label)}>" for label, url in alert.links)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    summary = [alert.title]
    if alert.dataset_id:
        summary.append(f"dataset {alert.dataset_id}")
    if error:
        summary.append(error.splitlines()[0][:300])
    summary += [url for _, url in alert.links]
    return {"text": " — ".join(summary), "blocks": blocks}


def post_alert(settings: AlertSettings, payload: Mapping[str, Any]) -> int:
    """POST ``payload`` as JSON to the webhook; the HTTP status. ``AlertDeliveryError`` when
    the webhook cannot be reached or answers with an error (never naming the full URL)."""
    body = json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked in AlertSettings
        settings.webhook_url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    where = settings.webhook_host
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_s) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raise AlertDeliveryError(f"alert webhook at {where} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AlertDeliveryError(
            f"alert webhook at {where} not reachable: {type(reason).__name__}"
        ) from None
    _log.info(
        "alert %r delivered to the webhook at %s (HTTP %s)", payload.get("text"), where, status
    )
    return status


def send_alert(settings: AlertSettings | None, alert: Alert) -> bool:
    """Build and post ``alert``; ``False`` when alerts are off. Delivery errors propagate."""
    if settings is None:
        return False
    post_alert(settings, build_payload(alert))
    return True
