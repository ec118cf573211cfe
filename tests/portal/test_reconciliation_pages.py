"""The reconciliation page, an account's entries and the studio's statement of account on the
demo trust: who may see them, that they show the selectors' figures, and that the
reconciliation page's queries do not grow with the number of members."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing.models import Lease, Studio
from payouts import ledger, reconciliation
from payouts.models import Account, MemberEarning, Period
from tests.factories import MemberFactory
from trust.templatetags.portal import money


@pytest.fixture
def demo(seeded_demo):
    return seeded_demo


def _login(client, username):
    client.force_login(get_user_model().objects.get(username=username))
    return client


def _closed() -> Period:
    return Period.objects.closed().order_by("start").first()


def test_only_administrators_see_reconciliation_and_accounts(client, demo):
    fee = ledger.trust_fee_revenue()
    pages = ["/operations/reconciliation/", f"/operations/ledger/accounts/{fee.pk}/"]
    for url in pages:
        assert client.get(url).status_code == 302
    for username in ("member", "studio"):
        _login(client, username)
        for url in pages:
            assert client.get(url).status_code == 403, (username, url)


def test_only_studio_staff_see_a_statement_of_account(client, demo):
    assert client.get("/studio/statement/").status_code == 302
    for username in ("member", "admin"):
        _login(client, username)
        assert client.get("/studio/statement/").status_code == 403, username


def test_the_reconciliation_page_shows_the_selectors_figures(client, demo):
    period = _closed()
    figures = reconciliation.period_reconciliation(period)
    page = _login(client, "admin").get("/operations/reconciliation/", {"period": period.pk}).content.decode()
    for key in ("invoiced", "collected", "distributed", "paid", "fee", "pension", "unclaimed"):
        assert f'id="rec-{key}">{money(figures[f"{key}_cents"])} ' in page, key
    assert figures["ledger_balanced"] and "Ledger balanced: <strong>yes</strong>" in page
    assert figures["invoiced_cents"] > 0 and figures["collected_cents"] > 0 and figures["paid_cents"] > 0


def test_an_unknown_period_or_account_is_a_404(client, demo):
    _login(client, "admin")
    assert client.get("/operations/reconciliation/", {"period": 999999}).status_code == 404
    assert client.get("/operations/ledger/accounts/999999/").status_code == 404


def test_the_reconciliation_page_does_not_grow_with_the_members(client, demo, django_assert_max_num_queries):
    period = _closed()
    _login(client, "admin")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/operations/reconciliation/", {"period": period.pk}).status_code == 200
    lease = Lease.objects.filter(studio=Studio.objects.first()).first()
    # 40 more members earning in the period, each with their accounts: the same queries.
    members = [MemberFactory() for _ in range(40)]
    MemberEarning.objects.bulk_create(
        MemberEarning(period=period, lease=lease, member=m, gross_cents=0, pension_cents=0, net_cents=0)
        for m in members
    )
    for member in members:
        ledger.member_payable(member)
        ledger.pension_payable(member)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/operations/reconciliation/", {"period": period.pk}).status_code == 200


def test_an_accounts_page_lists_the_entries_that_make_its_balance(client, demo):
    fee = Account.objects.get(code="trust:fee_revenue")
    page = _login(client, "admin").get(f"/operations/ledger/accounts/{fee.pk}/").content.decode()
    assert f'id="account-balance">{money(fee.balance_cents)} ' in page
    assert f'id="account-entries-sum">{money(fee.balance_cents)} ' in page
    assert "The balance is the sum of its entries" in page
    assert page.count("period:") == fee.entries.count()


def test_the_studio_statement_page_runs_to_the_receivable(client, demo):
    page = _login(client, "studio").get("/studio/statement/")
    statement = page.context["statement"]
    assert statement["rows"] and statement["balance_cents"] == statement["receivable_cents"]
    assert statement["balance_cents"] == statement["rows"][-1]["balance_cents"]
    assert f'id="soa-balance">{money(statement["balance_cents"])} ' in page.content.decode()


def test_books_out_of_balance_show_the_first_50_accounts_and_the_whole_count(client, demo):
    # Balances written without entries (as no service does): 60 accounts disagree.
    Account.objects.bulk_create(
        Account(code=f"broken:{n:03d}", kind=Account.Kind.BANK, balance_cents=n + 1) for n in range(60)
    )
    _login(client, "admin")
    page = client.get("/operations/reconciliation/").content.decode()
    assert '<strong id="rec-disagreeing-count">60</strong>' in page
    table = page.split('id="rec-disagreeing"')[1].split("</table>")[0]
    assert "broken:049" in table and "broken:050" not in table
    assert "the first 50 by code" in table
