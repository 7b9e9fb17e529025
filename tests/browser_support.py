"""Steps the browser tests share (their fixtures are tests.browser_fixtures)."""

from playwright.sync_api import Page, expect

# The password of the users the browser tests log in as (tests.conftest.make_user).
PASSWORD = "correct horse battery"


def log_in(page: Page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill('input[name="login"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.locator(".site-nav .account")).to_contain_text(email)
