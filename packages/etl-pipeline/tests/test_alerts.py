"""Alerts: payload shape, delivery to a real local HTTP server, secrecy of the webhook URL,
and the Dagster sensors (run failure on a real instance, rejections by ledger cursor)."""

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import dagster as dg
import pytest

from etl_pipeline.alerts import (
    UI_BASE_URL_ENV,
    WEBHOOK_ENV,
    AlertDeliveryError,
    AlertSettings,
    build_payload,
    post_alert,
    rejection_alert,
    run_failure_alert,
)
from etl_pipeline.orchestration.alert_sensors import (
    RejectionCursor,
    alert_sensors,
    evaluate_rejections,
)
from etl_pipeline.orchestration.resources import LedgerResource

pytestmark = pytest.mark.unit

SECRET_PATH = "/services/T000/B000/super-secret-token"


class Webhook:
    """A local webhook on a free loopback port that records what it receives."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.received: list[dict] = []
        self.paths: list[str] = []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                time.sleep(delay)
                webhook.paths.append(self.path)
                webhook.received.append(json.loads(body))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def __enter__(self) -> "Webhook":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _assert_slack_shape(payload: dict) -> None:
    assert isinstance(payload["text"], str) and payload["text"]
    assert isinstance(payload["blocks"], list) and payload["blocks"]
    assert payload["blocks"][0]["type"] == "header"
    for block in payload["blocks"]:
        assert block["type"] in {"header", "section", "context"}


def test_settings_are_off_without_a_webhook_and_never_show_the_url():
    assert AlertSettings.from_env({}) is None
    settings = AlertSettings.from_env(
        {WEBHOOK_ENV: "https://hooks.example.com" + SECRET_PATH, UI_BASE_URL_ENV: "http://ui/"}
    )
    assert settings.ui_base_url == "http://ui"
    assert SECRET_PATH not in repr(settings)
    assert settings.webhook_host == "https://hooks.example.com"
    with pytest.raises(ValueError, match=WEBHOOK_ENV) as info:
        AlertSettings.from_env({WEBHOOK_ENV: "file:///etc/passwd"})
    assert "passwd" not in str(info.value)


def test_run_failure_payload_has_batch_dataset_error_and_run_link():
    alert = run_failure_alert(
        run_id="abc-123",
        job_name="spatial_lane_job",
        location="asset_lanes",
        tags={"batch_id": "b-1", "dataset_id": "roads", "manifest_key": "manifests/b-1.json"},
        error="ogr2ogr failed: <bad> & worse\n" + "x" * 5000,
        ui_base_url="https://dagster.example.internal",
    )
    payload = build_payload(alert)
    _assert_slack_shape(payload)
    text = json.dumps(payload)
    assert "b-1" in text and "roads" in text and "asset_lanes" in text
    assert "https://dagster.example.internal/runs/abc-123" in text
    assert "&lt;bad&gt; &amp; worse" in text
    error_block = next(b for b in payload["blocks"] if "```" in b.get("text", {}).get("text", ""))
    assert len(error_block["text"]["text"]) < 3000  # Slack's limit for a section


def test_post_delivers_json_to_the_webhook():
    with Webhook() as hook:
        settings = AlertSettings(webhook_url=hook.url, timeout_s=5)
        alert = rejection_alert(
            batch_id="b-2", dataset_id="parcels", manifest_key="manifests/b-2.json", error="bad"
        )
        assert post_alert(settings, build_payload(alert)) == 200
    assert hook.paths == [SECRET_PATH]
    _assert_slack_shape(hook.received[0])
    assert "Manifest rejected" in hook.received[0]["text"]


def test_delivery_errors_and_logs_never_contain_the_webhook_url(caplog):
    caplog.set_level(logging.DEBUG)
    payload = build_payload(
        rejection_alert(batch_id="b", dataset_id=None, manifest_key="m", error="e")
    )
    with Webhook(status=500) as hook, pytest.raises(AlertDeliveryError, match="HTTP 500") as info:
        post_alert(AlertSettings(webhook_url=hook.url, timeout_s=5), payload)
    assert SECRET_PATH not in str(info.value) and info.value.__cause__ is None

    with Webhook(delay=2.0) as slow:
        started = time.monotonic()
        with pytest.raises(AlertDeliveryError, match="not reachable") as info:
            post_alert(AlertSettings(webhook_url=slow.url, timeout_s=0.3), payload)
        assert time.monotonic() - started < 2.0
    assert SECRET_PATH not in str(info.value)

    with Webhook() as ok:
        post_alert(AlertSettings(webhook_url=ok.url, timeout_s=5), payload)
    assert SECRET_PATH not in caplog.text


def test_sensors_run_by_default_only_when_the_webhook_is_configured(monkeypatch):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    off = alert_sensors("asset_lanes")
    assert [s.name for s in off] == [
        "asset_lanes_run_failure_alert_sensor",
        "asset_lanes_rejection_alert_sensor",
    ]
    assert all(s.default_status == dg.DefaultSensorStatus.STOPPED for s in off)
    monkeypatch.setenv(WEBHOOK_ENV, "https://hooks.example.com/x")
    monkeypatch.delenv("ETL_DEPLOYED", raising=False)
    dev = alert_sensors("legacy_ingest")  # a development instance alerts nobody by default
    assert dev[0].default_status == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("ETL_DEPLOYED", "1")
    on = alert_sensors("legacy_ingest")
    # Rejections are alerted by one location only (ETL_ALERT_REJECTIONS_LOCATION).
    assert [s.name for s in on] == ["legacy_ingest_run_failure_alert_sensor"]
    assert on[0].default_status == dg.DefaultSensorStatus.RUNNING
    assert isinstance(on[0], dg.RunStatusSensorDefinition)


@dg.op
def failing_step():
    raise RuntimeError("GDAL said no")


@dg.job(tags={"batch_id": "batch-42", "dataset_id": "rivers"})
def failing_job():
    failing_step()


def test_run_failure_sensor_posts_the_failed_runs_details(monkeypatch):
    with Webhook() as hook, dg.instance_for_test() as instance:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url)
        monkeypatch.setenv(UI_BASE_URL_ENV, "http://dagster.local:3000")
        sensor = alert_sensors("asset_lanes", include_rejections=False)[0]
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = next(
            e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE
        )
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=run,
        ).for_run_failure()
        sensor(context)
    [payload] = hook.received
    text = json.dumps(payload)
    assert "batch-42" in text and "rivers" in text and "GDAL said no" in text
    assert f"http://dagster.local:3000/runs/{result.run_id}" in text


def _record(n: int, at: datetime) -> SimpleNamespace:
    return SimpleNamespace(
        id=f"id{n}",
        intake_key=f"k{n}",
        updated_at=at,
        batch_id=f"b{n}",
        dataset_id="ds",
        manifest_key=f"manifests/b{n}.json",
        archive_key=None,
        error=f"reason {n}",
    )


class FakeLedger:
    def __init__(self) -> None:
        self.records: list[SimpleNamespace] = []

    def list_manifests(self, status=None, limit=100):
        assert status == "rejected"
        return sorted(self.records, key=lambda r: r.updated_at, reverse=True)[:limit]


def test_rejections_are_alerted_once_each_after_the_first_tick():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ledger = FakeLedger()
    ledger.records = [_record(0, t0)]
    with Webhook() as hook:
        settings = AlertSettings(webhook_url=hook.url, timeout_s=5)
        sent, cursor = evaluate_rejections(ledger, settings, None, "asset_lanes")
        assert sent == 0  # the first tick only sets the baseline
        ledger.records += [_record(1, t0 + timedelta(seconds=1)), _record(2, t0 + timedelta(1))]
        sent, cursor = evaluate_rejections(ledger, settings, cursor, "asset_lanes")
        assert sent == 2
        sent, cursor = evaluate_rejections(ledger, settings, cursor, "asset_lanes")
        assert sent == 0
    assert [p["text"].split(" — ")[0] for p in hook.received] == [
        "Manifest rejected: batch b1",
        "Manifest rejected: batch b2",
    ]
    assert RejectionCursor.parse(cursor).seen == ("id2",)


@pytest.mark.integration
def test_rejection_sensor_reads_the_real_ledger(ledger, monkeypatch):
    with Webhook() as hook:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url)
        sensor = alert_sensors("asset_lanes")[1]
        resources = {"ledger": LedgerResource.like(ledger)}
        with dg.build_sensor_context(cursor=None, resources=resources) as first:
            sensor(first)
        ledger.record_manifest_intake(
            manifest_key="manifests/broken.json",
            status="rejected",
            batch_id="broken-1",
            error="intent 'ingest_vector' needs a vector file",
        )
        with dg.build_sensor_context(cursor=first.cursor, resources=resources) as second:
            sensor(second)
    [payload] = hook.received
    assert "broken-1" in payload["text"]
    assert "needs a vector file" in json.dumps(payload)
