"""The web page and the dashboard in headless Chromium, against the session's running demo.

Chromium and its driver come from Debian's packages (`make browsers`); the driver's path
is given, so Selenium never looks for one on the network. With SPLITSTREAM_SCREENSHOTS_DIR
set, the tests save PNGs of ``/`` and ``/dashboard`` there (`make screenshots`).
"""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from cli.settings import Settings
from clients.promoter_commands import send_command
from clients.sink_query import open_clickhouse_reader
from demo.loop import publish_worse_candidate
from demo.scenario import held_out
from demo.traffic import drive, gateway_url
from plumbing.model_store import SlotStore
from plumbing.s3 import s3_client
from tests.integration.conftest import DemoRun

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_S = 30
#: What the dashboard shows before its first data.
NOTHING_YET = "\N{EN DASH}"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    assert Path(CHROMEDRIVER).exists(), "no chromedriver: run `make browsers`"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: WebDriver, check: Callable[[WebDriver], Any], timeout_s: float = WAIT_S) -> Any:
    # The dashboard redraws every few seconds: an element read mid-redraw is stale, so the
    # check is simply tried again.
    wait = WebDriverWait(
        driver,
        timeout_s,
        poll_frequency=0.2,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )
    return wait.until(check)


def _text(driver: WebDriver, element_id: str) -> str:
    """The element's text, read again if the dashboard redrew it between find and read."""
    for _ in range(20):
        try:
            return str(driver.find_element(By.ID, element_id).text)
        except StaleElementReferenceException:
            time.sleep(0.05)
    return str(driver.find_element(By.ID, element_id).text)


def _screenshot(driver: WebDriver, name: str) -> None:
    """A full-page PNG in SPLITSTREAM_SCREENSHOTS_DIR, when it is set."""
    folder = os.environ.get("SPLITSTREAM_SCREENSHOTS_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(int(height) + 100, 800))
    path = Path(folder, f"{name}.png").resolve()
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)
    print(f"screenshot: {path}")


def _query(settings: Settings, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    clickhouse = open_clickhouse_reader(settings)
    try:
        rows: list[dict[str, Any]] = clickhouse.query_df(sql, params).to_dict("records")
        return rows
    finally:
        clickhouse.close()


def _open_form(driver: WebDriver, demo: DemoRun) -> None:
    driver.get(gateway_url(demo.settings) + "/")
    _wait(driver, lambda d: len(Select(d.find_element(By.ID, "location")).options) > 10)


def _fill(driver: WebDriver, **values: str) -> None:
    for name, value in values.items():
        box = driver.find_element(By.ID, name)
        box.clear()
        box.send_keys(value)


def _price_a_house(driver: WebDriver, demo: DemoRun) -> str:
    """Pick a location, fill the form, submit; the request id of the shown price."""
    _open_form(driver, demo)
    picker = Select(driver.find_element(By.ID, "location"))
    names = [option.get_attribute("value") for option in picker.options]
    picker.select_by_value(next((n for n in names if n and "jayanagar" in n), names[1]))
    _fill(driver, total_sqft="1200", bhk="3", bath="2")
    driver.find_element(By.ID, "predict-button").click()
    _wait(driver, lambda d: d.find_element(By.ID, "result").is_displayed())
    return _text(driver, "request-id")


# --------------------------------------------------------------------------- the form


def test_the_form_prices_a_house_and_names_who_answered(demo: DemoRun, browser: WebDriver) -> None:
    request_id = _price_a_house(browser, demo)
    price = float(browser.find_element(By.ID, "price").get_attribute("data-price") or "0")
    assert price > 0
    assert _text(browser, "variant") in ("prod", "candidate")
    assert _text(browser, "model-version").startswith("m-")
    assert len(request_id) == 36
    _screenshot(browser, "index")


def test_feedback_from_the_page_reaches_clickhouse(demo: DemoRun, browser: WebDriver) -> None:
    request_id = _price_a_house(browser, demo)
    _fill(browser, actual_price_lakhs="123.45")
    browser.find_element(By.ID, "feedback-send").click()
    _wait(browser, lambda d: "Thank you" in _text(d, "feedback-status"))

    sql = (
        "SELECT count() AS n, any(actual_price_lakhs) AS price "
        f"FROM {demo.settings.clickhouse_database}.feedback WHERE request_id = {{id:String}}"
    )
    deadline = time.monotonic() + 30  # the sink writes a batch about every second
    rows = _query(demo.settings, sql, {"id": request_id})
    while rows[0]["n"] == 0 and time.monotonic() < deadline:
        time.sleep(1)
        rows = _query(demo.settings, sql, {"id": request_id})
    assert rows[0]["n"] == 1, f"feedback for {request_id} not in ClickHouse after 30 s"
    assert rows[0]["price"] == pytest.approx(123.45)


def test_bad_input_shows_the_apis_message_next_to_the_field(
    demo: DemoRun, browser: WebDriver
) -> None:
    _open_form(browser, demo)
    Select(browser.find_element(By.ID, "location")).select_by_index(1)
    _fill(browser, total_sqft="0", bhk="2", bath="2")
    browser.find_element(By.ID, "predict-button").click()
    message = _wait(browser, lambda d: _text(d, "error-total_sqft"))
    assert "total_sqft" in message and "greater than 0" in message
    assert not browser.find_element(By.ID, "result").is_displayed()

    _fill(browser, total_sqft="1000")
    browser.find_element(By.ID, "bhk").clear()
    browser.find_element(By.ID, "predict-button").click()
    assert _wait(browser, lambda d: _text(d, "error-bhk")) == "bhk is required"
    assert _text(browser, "error-total_sqft") == ""


# --------------------------------------------------------------------------- the dashboard


def _open_dashboard(driver: WebDriver, demo: DemoRun) -> None:
    driver.get(gateway_url(demo.settings) + "/dashboard")
    _wait(driver, lambda d: _text(d, "updated-at") != "never")


def _page_counts(driver: WebDriver) -> dict[str, int]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#variants tbody tr[data-variant]")
    found = {}
    for row in rows:
        variant = row.get_attribute("data-variant")
        cell = driver.find_element(By.ID, f"requests-{variant}")
        found[str(variant)] = int(cell.get_attribute("data-value") or "-1")
    return found


def _summary_counts(settings: Settings, experiment_id: str) -> dict[str, int]:
    sql = (
        "SELECT variant, requests "
        f"FROM {settings.clickhouse_database}.v_variant_summary "
        "WHERE experiment_id = {experiment:String}"
    )
    rows = _query(settings, sql, {"experiment": experiment_id})
    return {str(r["variant"]): int(r["requests"]) for r in rows}


def test_dashboard_counts_match_the_experiment_and_the_clickhouse_views(
    demo: DemoRun, browser: WebDriver
) -> None:
    # Given traffic in the running experiment (with feedback, so MAE is drawn)
    split = held_out(demo.settings)
    rows = [row._asdict() for row in split.rows_test[:60]]
    served = drive(demo.settings, rows, list(split.y_test[:60]), rate_per_s=60)
    assert all(s.status == 200 for s in served)
    experiment = _experiment(demo)

    # When the dashboard has refreshed past the sink's batches
    _open_dashboard(browser, demo)
    assert _text(browser, "experiment-id") == experiment["experiment_id"]
    assert _text(browser, "slot-best") == experiment["slots"]["best"]

    # Then its counts are the view's, once both have caught up with the traffic
    def agree(driver: WebDriver) -> dict[str, int] | None:
        page = _page_counts(driver)
        stored = _summary_counts(demo.settings, experiment["experiment_id"])
        caught_up = bool(page) and page == stored and sum(stored.values()) >= len(served)
        return page if caught_up else None

    page = _wait(browser, agree, timeout_s=45)
    assert set(page) <= {"prod", "candidate"}
    assert _text(browser, "srm-status") not in ("", NOTHING_YET)
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-requests svg polyline, "
                                 "#chart-requests svg circle")  # fmt: skip
    assert not browser.find_element(By.ID, "unavailable").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline li[data-action='promote']")
    _screenshot(browser, "dashboard")


def _experiment(demo: DemoRun) -> dict[str, Any]:
    import json
    import urllib.request

    url = gateway_url(demo.settings) + "/v1/experiment"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310
        experiment: dict[str, Any] = json.loads(answer.read())
    return experiment


def _ensure_previous_best(settings: Settings) -> None:
    """Make a rollback possible: promote a candidate by hand unless one was promoted."""
    slots = SlotStore(s3_client(settings), settings.s3_bucket).read()
    assert slots is not None
    if slots.slots.previous_best is not None:
        return
    if slots.slots.candidate is None:
        publish_worse_candidate(settings, Console())
    promoted = send_command(settings, action="promote", operator="test", reason="to roll back")
    assert promoted.outcome == "done", promoted.message


def test_a_rollback_from_the_dashboard_shows_in_the_timeline(
    demo: DemoRun, browser: WebDriver
) -> None:
    # Given a paused promoter (so its policy does not act first) and a previous best
    settings = demo.settings
    paused = send_command(settings, action="pause", operator="test", reason="manual rollback")
    try:
        _ensure_previous_best(settings)
        _open_dashboard(browser, demo)
        _wait(browser, lambda d: _text(d, "slot-previous-best") not in ("none", NOTHING_YET))
        newest = int(
            _wait(
                browser,
                lambda d: d.find_element(By.CSS_SELECTOR, "#timeline li").get_attribute(
                    "data-sequence"
                ),
            )
        )
        assert not browser.find_element(By.ID, "admin-controls").is_displayed()

        # When the operator enters the token, clicks rollback and confirms
        assert settings.admin_token is not None
        _fill(browser, **{"admin-token": settings.admin_token.get_secret_value()})
        _wait(browser, lambda d: d.find_element(By.ID, "admin-rollback").is_displayed())
        browser.find_element(By.ID, "admin-rollback").click()
        _wait(browser, expected_conditions.alert_is_present()).accept()

        # Then the outcome is shown and the timeline starts with the rollback
        _wait(browser, lambda d: "rollback: done" in _text(d, "admin-result"))
        first = _wait(browser, lambda d: _newer_rollback(d, newest))
        assert "operator" in first and "by hand from the dashboard" in first
    finally:
        if paused.outcome == "done":
            send_command(settings, action="resume", operator="test", reason="manual rollback done")


def _newer_rollback(driver: WebDriver, newest: int) -> str | bool:
    """The newest timeline item's text if it is a rollback newer than ``newest``.

    The text is read here, inside the wait: a redraw between the wait and a later read
    would leave the element stale.
    """
    items = driver.find_elements(By.CSS_SELECTOR, "#timeline li")
    if not items:
        return False
    first = items[0]
    sequence = int(first.get_attribute("data-sequence") or "-1")
    if sequence > newest and first.get_attribute("data-action") == "rollback":
        return str(first.text)
    return False


def test_bad_admin_token_shows_the_refusal(demo: DemoRun, browser: WebDriver) -> None:
    _open_dashboard(browser, demo)
    _fill(browser, **{"admin-token": "not-the-token"})
    browser.find_element(By.ID, "admin-pause").click()
    _wait(browser, expected_conditions.alert_is_present()).accept()
    message = _wait(
        browser, lambda d: "refused" in _text(d, "admin-result") and _text(d, "admin-result")
    )
    assert "401" in message and "wrong admin token" in message


# --------------------------------------------------------------------------- CSP


@pytest.fixture(scope="module")
def logging_browser() -> Iterator[WebDriver]:
    """Chromium that keeps its console, where a content security policy reports what it blocks."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_pages_and_docs_work_under_the_content_security_policy(
    demo: DemoRun, logging_browser: WebDriver
) -> None:
    base = gateway_url(demo.settings)
    driver = logging_browser

    _open_form(driver, demo)
    driver.get(base + "/dashboard")
    _wait(driver, lambda d: _text(d, "slot-best") not in ("", NOTHING_YET))
    driver.get(base + "/docs")
    title = _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title"))

    assert "Splitstream gateway" in title.text
    messages = [entry["message"] for entry in driver.get_log("browser")]
    blocked = [m for m in messages if "Content Security Policy" in m or "Refused to" in m]
    assert blocked == [], blocked
