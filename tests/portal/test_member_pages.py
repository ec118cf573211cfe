"""The member portal: earnings at home, assets, consent with withdrawal, who used my data, and
statements. Every figure on a page is the selector's (and so the API's) figure, and every form
goes through the same service as the API."""

import csv
import io
import re
from datetime import UTC, timedelta
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from licensing.models import Lease, Takedown
from payouts import selectors as payouts
from payouts.charts import bar_chart
from payouts.models import Period
from trust import services as trust
from trust.consent import Use, current_text
from trust.models import Consent, Member
from trust.templatetags.portal import money, period_label

pytestmark = pytest.mark.django_db

User = get_user_model()


def _accepted_assets(member):
    """The assets that count as the member's: their share accepted."""
    from trust.models import Asset

    return Asset.objects.filter(contributors__member=member, contributors__status="accepted")


def _text(response) -> str:
    """The page as a person reads it: tags stripped, whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def demo(seeded_demo):
    """The demo trust: Alex Rivera (login "member") with three closed periods of earnings."""
    return Member.objects.get(user__username="member")


@pytest.fixture
def alex(client, demo):
    client.force_login(demo.user)
    return client


def _member_urls(demo) -> list[tuple[str, str]]:
    period = payouts.member_statement_periods(demo).first().pk
    grant = demo.consents.filter(state=Consent.State.GRANTED).first().pk
    return [
        ("get", reverse("member-home")),
        ("get", reverse("member-assets")),
        ("get", reverse("member-consent")),
        ("post", reverse("member-consent")),
        ("get", reverse("member-consent-withdraw", args=[grant])),
        ("post", reverse("member-consent-withdraw", args=[grant])),
        ("get", reverse("member-leases")),
        ("get", reverse("member-statements")),
        ("get", reverse("member-statement-csv", args=[period])),
        ("get", reverse("member-statement-pdf", args=[period])),
    ]


# --- Who may see the pages ------------------------------------------------------------------


def test_the_member_urls_are_where_the_brief_says():
    assert reverse("member-home") == "/member/"
    assert reverse("member-assets") == "/member/assets/"
    assert reverse("member-consent") == "/member/consent/"
    assert reverse("member-consent-withdraw", args=[7]) == "/member/consent/7/withdraw/"
    assert reverse("member-leases") == "/member/leases/"
    assert reverse("member-statements") == "/member/statements/"
    assert reverse("member-statement-csv", args=[3]) == "/member/statements/3.csv"
    assert reverse("member-statement-pdf", args=[3]) == "/member/statements/3.pdf"


def test_every_member_page_sends_anonymous_visitors_to_sign_in(client, demo):
    for method, url in _member_urls(demo):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


@pytest.mark.parametrize("username", ["admin", "studio"])
def test_every_member_page_is_refused_to_other_roles(client, demo, username):
    client.force_login(User.objects.get(username=username))
    consents = Consent.objects.count()
    for method, url in _member_urls(demo):
        assert getattr(client, method)(url, {"use": "voice_synthesis"}).status_code == 403, url
    assert Consent.objects.count() == consents


def test_a_login_with_no_role_is_refused_too(client, demo):
    client.force_login(User.objects.create_user("nobody", password="x-long-password-1"))
    for method, url in _member_urls(demo):
        assert getattr(client, method)(url).status_code == 403, url


def test_the_navigation_lists_the_member_pages(alex):
    nav = alex.get(reverse("member-home")).content.decode().split('class="role-nav"')[1].split("</nav>")[0]
    for name, label in [
        ("member-home", "Home"),
        ("member-assets", "Assets"),
        ("member-consent", "Consent"),
        ("member-leases", "Who used my data"),
        ("member-statements", "Statements"),
    ]:
        assert f'href="{reverse(name)}">{label}</a>' in nav


# --- Home: earnings, the chart, the breakdown -----------------------------------------------


def test_home_shows_the_api_totals_and_balance(alex, demo):
    earnings = alex.get("/api/v1/me/earnings/").json()
    response = alex.get(reverse("member-home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert earnings["total_net_cents"] > 0
    for element, cents in [
        ("total-net", earnings["total_net_cents"]),
        ("total-pension", earnings["total_pension_cents"]),
        ("balance", earnings["balance_cents"]),
    ]:
        assert re.search(rf'id="{element}">{re.escape(money(cents))} <span class="unit">USD</span>', html)


def test_the_chart_has_one_bar_per_closed_period_oldest_first_with_the_api_figures(alex, demo):
    earnings = alex.get("/api/v1/me/earnings/").json()
    html = alex.get(reverse("member-home")).content.decode()
    svg = html.split('<svg class="chart bars"')[1].split("</svg>")[0]
    bars = [(int(p), int(c)) for p, c in re.findall(r'data-period="(\d+)" data-net-cents="(-?\d+)"', svg)]
    api = {row["period"]: row["net_cents"] for row in earnings["periods"]}
    assert len(bars) == 3 and {p for p, _ in bars} == set(api)
    assert bars == [
        (period, api[period]) for period in sorted(api, key=lambda p: Period.objects.get(pk=p).start)
    ]
    assert 'role="img"' in html.split('<svg class="chart bars"')[1].split(">")[0]
    assert "<title" in svg and "<desc" in svg
    for period, net in bars:
        label = period_label(Period.objects.get(pk=period).start, Period.objects.get(pk=period).end)
        assert f">{money(net)}</text>" in svg and f">{label}</text>" in svg


def test_the_chart_figures_are_also_a_table(alex, demo):
    text = _text(alex.get(reverse("member-home")))
    for row in payouts.member_earnings_by_period(demo):
        assert f"{row['label']} {money(row['net_cents'])} {money(row['pension_cents'])}" in text


def test_the_breakdown_by_studio_and_by_uses_adds_up_to_the_total_net(alex, demo):
    breakdown = payouts.member_earnings_breakdown(demo)
    total = payouts.member_earnings(demo)["total_net_cents"]
    assert breakdown["total_net_cents"] == total
    assert sum(row["net_cents"] for row in breakdown["by_studio"]) == total
    assert sum(row["net_cents"] for row in breakdown["by_uses"]) == total
    text = _text(alex.get(reverse("member-home")))
    assert f"Northlight Pictures 1 {money(total)}" in text
    # The lease permitted training and passive replicas together: one combined row, in Use order.
    assert f"Training AI models + Digital replica: touch-ups, background placement 1 {money(total)}" in text
    assert "each lease's earnings are counted once, under the combination of uses" in text


def test_a_lease_under_other_uses_gets_its_own_row_in_the_breakdown(demo):
    from licensing import services as licensing
    from payouts import services as payout_services

    crowd = Lease.objects.get(status=Lease.Status.REQUESTED)
    licensing.lease_approve(actor=User.objects.get(username="admin"), lease=crowd)
    # The crowd lease's flat fee falls in this month's period: end it now and close it.
    period = Period.objects.get(status=Period.Status.OPEN, end__gt=timezone.now())
    Period.objects.filter(pk=period.pk).update(end=timezone.now())
    payout_services.period_close(period_id=period.pk)
    breakdown = payouts.member_earnings_breakdown(demo)
    uses = {tuple(row["uses"]): row["net_cents"] for row in breakdown["by_uses"]}
    assert set(uses) == {("crowd_generation",), ("training", "replica_passive")}
    assert all(uses.values())
    assert sum(uses.values()) == payouts.member_earnings(demo)["total_net_cents"]


def test_home_of_a_member_with_no_history_says_so(client, demo):
    newcomer = trust.member_enrol(
        actor=User.objects.get(username="admin"),
        username="newcomer",
        password="a-long-enough-password-1",
        email="n@example.test",
        member_number="M-0999",
        display_name="New Comer",
    )
    client.force_login(newcomer.user)
    response = client.get(reverse("member-home"))
    assert response.status_code == 200
    text = _text(response)
    assert "No accounting period has been closed since you joined" in text
    assert "No bank account is on file yet" in text
    assert 'class="chart bars"' not in response.content.decode()


# --- The chart's geometry, a pure function --------------------------------------------------


def test_no_bars_give_an_empty_chart_of_the_minimum_width():
    chart = bar_chart([])
    assert chart.bars == () and chart.width == 320 and chart.height > chart.baseline


def test_one_bar_fills_the_plot():
    (bar,) = bar_chart([(1, 12_345, "Mar 2026")], plot_height=180).bars
    assert bar.height == 180 and bar.y == bar_chart([]).baseline - 180


def test_bars_are_proportional_in_integers_and_the_largest_fills_the_plot():
    chart = bar_chart([(1, 100, "a"), (2, 50, "b"), (3, 1, "c"), (4, 0, "d")], plot_height=180)
    heights = [bar.height for bar in chart.bars]
    assert heights == [180, 90, 1, 0]  # a tiny positive value stays visible; zero draws nothing
    assert all(isinstance(v, int) for bar in chart.bars for v in (bar.x, bar.y, bar.width, bar.height))
    xs = [bar.x for bar in chart.bars]
    assert xs == sorted(xs) and len(set(xs)) == 4


def test_all_zero_values_draw_no_bars_and_divide_by_nothing():
    chart = bar_chart([(1, 0, "a"), (2, 0, "b")])
    assert [bar.height for bar in chart.bars] == [0, 0]
    assert all(bar.y == chart.baseline for bar in chart.bars)


def test_huge_amounts_stay_exact():
    big = 10**20 + 1
    chart = bar_chart([(1, big, "a"), (2, big // 2, "b")], plot_height=180)
    assert [bar.height for bar in chart.bars] == [180, 89]
    assert chart.bars[0].value == big


def test_long_labels_widen_the_slots():
    chart = bar_chart([(1, 5, "3 Mar – 17 Apr 2026"), (2, 5, "18 Apr – 30 May 2026")])
    assert chart.bars[1].center - chart.bars[0].center >= 7 * len("18 Apr – 30 May 2026")


def test_period_labels_are_the_inclusive_range_of_days():
    from datetime import datetime

    assert period_label(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)) == "1–31 Mar 2026"
    assert (
        period_label(datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 4, 18, tzinfo=UTC))
        == "3 Mar – 17 Apr 2026"
    )
    assert (
        period_label(datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
        == "1 Dec 2025 – 31 Jan 2026"
    )


# --- Assets ---------------------------------------------------------------------------------


def test_assets_lists_each_of_my_assets_with_share_datasets_leases_and_licensability(alex, demo):
    response = alex.get(reverse("member-assets"))
    assert response.status_code == 200
    text = _text(response)
    assert "3 assets" in text
    assert re.findall(r'<h2 id="asset-[^"]+">([^<]+)</h2>', response.content.decode()) == [
        "Alex: 3D face scan, neutral light",
        "Alex &amp; Jordan: stunt fall, two takes",
        "Ensemble: crowd scene, day 3",
    ]
    assert "Alex: 3D face scan, neutral light" in text
    assert "Sam: full-body scan" not in text  # not Alex's
    # Sam named Alex in footage Alex has not accepted yet: a request, not one of the cards.
    assert "Named as a contributor: 1 request" in text
    assert "Sam & Alex: rehearsal, scene 12 Performance footage Named by Sam Okafor" in text
    html = response.content.decode()
    rows = {
        str(asset.pk): html.split(f'data-asset="{asset.pk}"')[1].split("</article>")[0]
        for asset in _accepted_assets(demo).all()
    }
    stunt = next(a for a in _accepted_assets(demo).all() if a.title.startswith("Alex & Jordan"))
    crowd = next(a for a in _accepted_assets(demo).all() if a.title.startswith("Ensemble"))
    assert ">50%<" in rows[str(stunt.pk)] and ">25%<" in rows[str(crowd.pk)]
    for row in rows.values():
        assert "Crowd &amp; stunts 2026" in row and "frozen in v1" in row
        assert "Northlight Pictures" in row and "Harbour Lights" in row
        assert "Training AI models" in row  # licensable now for training
        assert "Available" in row


def test_assets_says_an_asset_is_no_longer_licensed_to_a_lease_after_a_withdrawal(alex, demo):
    grant = demo.consents.get(use="training", asset__isnull=True)
    trust.consent_withdraw(actor=demo.user, consent=grant)
    text = _text(alex.get(reverse("member-assets")))
    assert "no longer licensed to them (takedown)" in text
    assert "Training AI models" not in text  # licensable for no asset any more


# --- Consent: the matrix, granting ----------------------------------------------------------


def test_the_consent_matrix_lists_uses_in_order_capture_first(alex, demo):
    response = alex.get(reverse("member-consent"))
    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r'<tr data-use="(\w+)"', html) == [use.value for use in Use]
    capture_row = html.split('<tr data-use="capture"')[1].split("</tr>")[0]
    assert "First opt-in" in capture_row and "Without it, nothing else applies." in capture_row
    assert current_text(Use.VOICE_SYNTHESIS).text in _text(response)
    headers = re.findall(
        r'<th scope="col"[^>]*>([^<]+)', html.split("consent-matrix")[1].split("</thead>")[0]
    )
    assert headers[:2] == ["Use", "All my assets"]
    assert [unescape(h) for h in headers[2:]] == [
        a.title for a in _accepted_assets(demo).order_by("created_at", "id")
    ]


def test_matrix_cells_say_granted_or_not_and_per_asset_cells_name_the_all_assets_grant(alex, demo):
    html = alex.get(reverse("member-consent")).content.decode()
    training = html.split('<tr data-use="training"')[1].split("</tr>")[0]
    voice = html.split('<tr data-use="voice_synthesis"')[1].split("</tr>")[0]
    grant = demo.consents.get(use="training", asset__isnull=True)
    assert reverse("member-consent-withdraw", args=[grant.pk]) in training
    assert training.count("by your grant for all assets") == 3  # one per asset
    assert "Not asked yet" not in training
    # Not asked yet, in words: a Grant and a Refuse button for all assets and for each asset.
    assert voice.count("Not asked yet") == 4 and voice.count('type="submit"') == 8


def test_granting_a_use_for_all_assets_records_it_through_the_service(alex, demo):
    response = alex.post(reverse("member-consent"), {"use": "voice_synthesis", "asset": ""}, follow=True)
    assert response.redirect_chain[-1] == (reverse("member-consent"), 302)
    assert "Granted: Voice synthesis for all your assets." in _messages(response)
    grant = demo.consents.get(use="voice_synthesis")
    assert grant.asset is None and grant.state == Consent.State.GRANTED and grant.actor == demo.user
    voice = response.content.decode().split('<tr data-use="voice_synthesis"')[1].split("</tr>")[0]
    assert reverse("member-consent-withdraw", args=[grant.pk]) in voice
    assert "Voice synthesis" in _text(response).split("History")[1]


def test_granting_a_use_for_one_asset(alex, demo):
    asset = _accepted_assets(demo).order_by("created_at").first()
    response = alex.post(
        reverse("member-consent"), {"use": "replica_active", "asset": str(asset.pk)}, follow=True
    )
    assert f"Granted: Digital replica: new lines or actions for “{asset.title}”." in _messages(response)
    assert demo.consents.get(use="replica_active").asset == asset


def test_granting_twice_is_refused_with_the_services_message_and_writes_nothing(alex, demo):
    before = Consent.objects.count()
    response = alex.post(reverse("member-consent"), {"use": "training", "asset": ""}, follow=True)
    assert "this consent is already granted" in _messages(response)
    assert Consent.objects.count() == before


def test_granting_for_someone_elses_asset_is_a_404_and_writes_nothing(alex, demo):
    sams = Member.objects.get(user__username="sam").assets.get(kind="body_scan")
    before = Consent.objects.count()
    response = alex.post(reverse("member-consent"), {"use": "voice_synthesis", "asset": str(sams.pk)})
    assert response.status_code == 404
    assert Consent.objects.count() == before


def test_a_malformed_grant_is_refused_with_a_message(alex, demo):
    before = Consent.objects.count()
    response = alex.post(reverse("member-consent"), {"use": "mind_reading", "asset": "x"}, follow=True)
    assert any("Nothing was recorded" in m for m in _messages(response))
    assert Consent.objects.count() == before


def test_the_history_lists_every_record_newest_first(alex, demo):
    response = alex.get(reverse("member-consent"))
    history = _text(response).split("History")[1]
    assert f"{demo.consents.count()} records" in history
    assert history.count("Granted") == demo.consents.count()


# --- Consent: withdrawal through the confirmation page --------------------------------------


def test_the_confirmation_page_says_what_withdrawal_does_and_lists_the_leases(alex, demo):
    grant = demo.consents.get(use="training", asset__isnull=True)
    response = alex.get(reverse("member-consent-withdraw", args=[grant.pk]))
    assert response.status_code == 200
    text = _text(response)
    assert "Training AI models" in text and "all your assets" in text
    assert "leave the manifest of every lease that depends on “Training AI models”" in text
    assert "downloads of them are refused" in text
    assert "takedown notice" in text and "attest that it deleted your data" in text
    assert "Royalties you already earned stay earned." in text
    lease = Lease.objects.get(status=Lease.Status.ACTIVE)
    row = response.content.decode().split(f'data-lease="{lease.pk}"')[1].split("</tr>")[0]
    assert "Northlight Pictures" in row and "Harbour Lights" in row and "Yes" in row
    assert "Confirm: withdraw my consent" in text and "Cancel, keep my consent" in text
    assert 'href="/member/consent/"' in response.content.decode()
    # Looking is not withdrawing.
    assert not Consent.objects.filter(supersedes=grant).exists()


def test_a_lease_that_does_not_use_the_withdrawn_use_gets_no_notice(alex, demo):
    grant = demo.consents.get(use="crowd_generation", asset__isnull=True)
    response = alex.get(reverse("member-consent-withdraw", args=[grant.pk]))
    assert "this lease does not use “Crowd generation”" in _text(response)


def test_a_per_asset_withdrawal_under_an_all_assets_grant_changes_nothing_and_says_so(alex, demo):
    asset = _accepted_assets(demo).order_by("created_at").first()
    grant = trust.consent_grant(actor=demo.user, member=demo, use="training", asset=asset)
    text = _text(alex.get(reverse("member-consent-withdraw", args=[grant.pk])))
    assert "also covers this asset" in text and "still covered by your other grants" in text
    alex.post(reverse("member-consent-withdraw", args=[grant.pk]))
    assert Takedown.objects.count() == 0


def test_confirming_withdraws_issues_takedowns_and_keeps_what_was_earned(alex, demo):
    earned = payouts.member_earnings(demo)
    grant = demo.consents.get(use="training", asset__isnull=True)
    response = alex.post(reverse("member-consent-withdraw", args=[grant.pk]), follow=True)
    assert response.redirect_chain[-1] == (reverse("member-consent"), 302)
    withdrawal = Consent.objects.get(supersedes=grant)
    assert withdrawal.state == Consent.State.WITHDRAWN and withdrawal.actor == demo.user
    lease = Lease.objects.get(status=Lease.Status.ACTIVE)
    notices = Takedown.objects.filter(withdrawal_id=withdrawal.pk)
    assert {t.lease_id for t in notices} == {lease.pk} and notices.count() == 3
    messages = _messages(response)
    assert "Withdrawn: Training AI models for all your assets." in messages
    assert any("3 takedown notices sent to Northlight Pictures" in m for m in messages)
    assert payouts.member_earnings(demo) == earned
    training = response.content.decode().split('<tr data-use="training"')[1].split("</tr>")[0]
    assert training.count("Withdrawn") == 4 and "Not asked yet" not in training


def test_withdrawing_again_is_refused_and_writes_nothing(alex, demo):
    grant = demo.consents.get(use="training", asset__isnull=True)
    alex.post(reverse("member-consent-withdraw", args=[grant.pk]))
    before = (Consent.objects.count(), Takedown.objects.count())
    response = alex.post(reverse("member-consent-withdraw", args=[grant.pk]), follow=True)
    assert "this consent is already withdrawn" in _messages(response)
    assert (Consent.objects.count(), Takedown.objects.count()) == before
    response = alex.get(reverse("member-consent-withdraw", args=[grant.pk]), follow=True)
    assert any("already withdrawn" in m for m in _messages(response))


def test_someone_elses_grant_or_a_withdrawal_record_is_a_404(alex, demo):
    sams = Member.objects.get(user__username="sam").consents.filter(state="granted").first()
    assert alex.get(reverse("member-consent-withdraw", args=[sams.pk])).status_code == 404
    assert alex.post(reverse("member-consent-withdraw", args=[sams.pk])).status_code == 404
    assert not Consent.objects.filter(supersedes=sams).exists()
    mine = demo.consents.get(use="training", asset__isnull=True)
    withdrawal = trust.consent_withdraw(actor=demo.user, consent=mine)
    assert alex.get(reverse("member-consent-withdraw", args=[withdrawal.pk])).status_code == 404
    assert alex.get(reverse("member-consent-withdraw", args=[10**17])).status_code == 404


# --- Who used my data -----------------------------------------------------------------------


def test_who_used_my_data_shows_the_api_rows_and_a_total(alex, demo):
    api = alex.get("/api/v1/me/leases/").json()["results"]
    response = alex.get(reverse("member-leases"))
    assert response.status_code == 200
    html = response.content.decode()
    assert len(api) == 1
    for lease in api:
        row = _text_of(html.split(f'data-lease="{lease["lease"]}"')[1].split("</tr>")[0])
        assert f"{lease['studio']} {lease['purpose']} {lease['dataset']} v{lease['version']}" in row
        assert (
            f"{len(lease['my_assets'])} {lease['downloads_of_my_assets']} {money(lease['net_cents'])}" in row
        )
        assert money(lease["pension_cents"]) in row
        assert "Training AI models" in row and "Active" in row
    total = sum(lease["net_cents"] for lease in api)
    assert re.search(rf'id="leases-total-net">{re.escape(money(total))}<', html)
    assert total == payouts.member_earnings(demo)["total_net_cents"]


def _text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


# --- Statements -----------------------------------------------------------------------------


def test_statements_list_one_row_per_closed_period_with_the_api_figures(alex, demo):
    earnings = alex.get("/api/v1/me/earnings/").json()
    response = alex.get(reverse("member-statements"))
    assert response.status_code == 200
    html = response.content.decode()
    rows = re.findall(r'<tr data-period="(\d+)">', html)
    closed = Period.objects.filter(status=Period.Status.CLOSED).order_by("-start")
    assert [int(p) for p in rows] == [p.pk for p in closed]  # newest first
    for period in earnings["periods"]:
        row = _text_of(html.split(f'data-period="{period["period"]}"')[1].split("</tr>")[0])
        assert f"{money(period['net_cents'])} {money(period['pension_cents'])}" in row
        assert f'href="/member/statements/{period["period"]}.csv"' in html
        assert f'href="/member/statements/{period["period"]}.pdf"' in html


def test_each_statement_totals_equal_the_periods_figures_in_member_earnings(demo):
    for period in payouts.member_earnings(demo)["periods"]:
        statement = payouts.member_statement(demo, period["period"])
        assert statement["net_cents"] == period["net_cents"]
        assert statement["pension_cents"] == period["pension_cents"]
        # Gross is before the trust fee: the revenue attributed to the member.
        assert statement["after_fee_cents"] == period["net_cents"] + period["pension_cents"]
        assert sum(row["net_cents"] for row in statement["rows"]) == statement["net_cents"]
        assert statement["gross_cents"] == statement["revenue_cents"]
        assert statement["gross_cents"] == statement["admin_fee_cents"] + statement["after_fee_cents"]
        assert statement["admin_fee_cents"] > 0
        for row in statement["rows"]:
            assert row["kind"] == "earning" and row["refers_to_period"] is None
            for key in ("gross_cents", "admin_fee_cents", "after_fee_cents", "pension_cents", "net_cents"):
                assert sum(line[key] for line in row["lines"]) == row[key]
            order = ["flat_fee", "download", "training_run", "generated_second"]
            uses = [line["use"] for line in row["lines"]]
            assert uses == sorted(uses, key=order.index)


def test_members_statement_lines_share_out_each_leases_revenue_and_fee_exactly(demo):
    from payouts.models import LeaseRevenue, MemberEarningLine

    revenues = LeaseRevenue.objects.filter(period__status=Period.Status.CLOSED)
    assert revenues.count() == 3
    for revenue in revenues:
        lines = MemberEarningLine.objects.filter(earning__period=revenue.period, earning__lease=revenue.lease)
        assert sum(lines.values_list("admin_fee_cents", flat=True)) == revenue.admin_fee_cents
        assert sum(lines.values_list("revenue_cents", flat=True)) == revenue.revenue_cents
        assert sum(lines.values_list("net_cents", flat=True)) == revenue.net_cents
        assert set(lines.values_list("use", flat=True)) >= {"download", "training_run", "generated_second"}


def test_the_csv_statement_lists_leases_and_totals(alex, demo):
    period = payouts.member_earnings(demo)["periods"][-1]
    response = alex.get(reverse("member-statement-csv", args=[period["period"]]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    start = Period.objects.get(pk=period["period"]).start
    assert response["Content-Disposition"] == (
        f'attachment; filename="guildtrust-statement-M-0001-{start:%Y-%m-%d}.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header = dict(row for row in rows if len(row) == 2)
    assert header["member_number"] == "M-0001" and header["member_name"] == "Alex Rivera"
    assert header["currency"] == "USD" and header["period_first_day"] == f"{start:%Y-%m-%d}"
    assert header["trust_fee_rate"] == "10.00%" and header["pension_rate"] == "5.00%"
    columns = [
        "lease",
        "studio",
        "dataset",
        "version",
        "use",
        "gross",
        "trust_fee",
        "after_fee",
        "pension",
        "net",
        "kind",
        "refers_to_period",
    ]
    table = rows[rows.index(columns) + 1 :]
    lines, total = table[:-1], table[-1]
    assert {row[1] for row in lines} == {"Northlight Pictures"} and lines[0][2] == "Crowd & stunts 2026"
    # The oldest period is the lease's first month: its flat fee, then each kind of usage.
    assert [row[4] for row in lines] == ["flat_fee", "download", "training_run", "generated_second"]
    assert total[0] == "total"
    assert total[8] == money(period["pension_cents"]).replace(",", "")
    assert total[9] == money(period["net_cents"]).replace(",", "")
    cents = lambda text: int(text.replace(".", ""))  # noqa: E731
    assert sum(cents(row[9]) for row in lines) == period["net_cents"]
    assert sum(cents(row[6]) for row in lines) == cents(total[6]) > 0
    for row in lines:
        # Gross (before the trust fee) = trust fee + after fee; after fee = pension + net.
        assert cents(row[5]) == cents(row[6]) + cents(row[7])
        assert cents(row[7]) == cents(row[8]) + cents(row[9])
        assert row[10:] == ["earning", ""]


def test_the_pdf_statement_is_a_pdf_attachment(alex, demo):
    period = payouts.member_earnings(demo)["periods"][0]
    response = alex.get(reverse("member-statement-pdf", args=[period["period"]]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert response["Content-Disposition"].startswith('attachment; filename="guildtrust-statement-M-0001-')
    assert response["Content-Disposition"].endswith('.pdf"')


def test_a_statement_of_a_period_that_is_not_closed_is_a_404(alex, demo):
    open_period = Period.objects.filter(status=Period.Status.OPEN).first()
    assert alex.get(reverse("member-statement-csv", args=[open_period.pk])).status_code == 404
    assert alex.get(reverse("member-statement-pdf", args=[open_period.pk])).status_code == 404
    assert alex.get(reverse("member-statement-pdf", args=[10**17])).status_code == 404


def test_periods_before_a_member_joined_are_not_their_business(client, demo):
    newcomer = trust.member_enrol(
        actor=User.objects.get(username="admin"),
        username="newcomer",
        password="a-long-enough-password-1",
        email="n@example.test",
        member_number="M-0999",
        display_name="New Comer",
    )
    client.force_login(newcomer.user)
    closed = Period.objects.filter(status=Period.Status.CLOSED).first()
    assert client.get(reverse("member-statement-csv", args=[closed.pk])).status_code == 404
    assert "there is no statement yet" in _text(client.get(reverse("member-statements")))


def test_a_closed_period_where_the_member_earned_nothing_gives_a_statement_of_zeros(alex, demo):
    last = Period.objects.filter(status=Period.Status.CLOSED).order_by("-end").first()
    quiet = Period.objects.create(
        start=timezone.now() + timedelta(days=400),
        end=timezone.now() + timedelta(days=430),
        status=Period.Status.CLOSED,
    )
    assert quiet.start > last.end
    response = alex.get(reverse("member-statement-csv", args=[quiet.pk]))
    assert response.status_code == 200
    assert response.content.decode().splitlines()[-1] == "total,,,,,0.00,0.00,0.00,0.00,0.00,,"
    assert alex.get(reverse("member-statement-pdf", args=[quiet.pk])).status_code == 200
    assert f'data-period="{quiet.pk}"' in alex.get(reverse("member-statements")).content.decode()


def test_a_statement_cell_a_spreadsheet_would_run_is_defused():
    from payouts.statements import statement_csv

    statement = {
        "trust_name": "T",
        "member_number": "M-1",
        "member_name": "=HYPERLINK(1)",
        "label": "Mar 2026",
        "first_day": timezone.now().date(),
        "last_day": timezone.now().date(),
        "currency": "USD",
        "admin_fee_bps": 1000,
        "pension_bps": 500,
        "rows": [
            {
                "kind": "earning",
                "refers_to_period": None,
                "lease": 1,
                "studio": "@evil",
                "dataset": "d",
                "version": 1,
                "lines": [
                    {
                        "use": "download",
                        "label": "Downloads",
                        "revenue_cents": 117,
                        "admin_fee_cents": 12,
                        "gross_cents": 117,
                        "after_fee_cents": 105,
                        "pension_cents": 5,
                        "net_cents": 100,
                    }
                ],
                "revenue_cents": 117,
                "admin_fee_cents": 12,
                "gross_cents": 117,
                "after_fee_cents": 105,
                "pension_cents": 5,
                "net_cents": 100,
            }
        ],
        "revenue_cents": 117,
        "admin_fee_cents": 12,
        "gross_cents": 117,
        "after_fee_cents": 105,
        "pension_cents": 5,
        "net_cents": 100,
    }
    rows = list(csv.reader(io.StringIO(statement_csv(statement))))
    assert ["member_name", "'=HYPERLINK(1)"] in rows
    assert [
        "1",
        "'@evil",
        "d",
        "1",
        "download",
        "1.17",
        "0.12",
        "1.05",
        "0.05",
        "1.00",
        "earning",
        "",
    ] in rows


@pytest.mark.parametrize("unicode_font", [True, False])
def test_the_pdf_prints_any_name_with_or_without_a_unicode_font(monkeypatch, unicode_font):
    from pathlib import Path

    from payouts import statements
    from trust import pdf

    if not unicode_font:
        monkeypatch.setattr(pdf, "UNICODE_FONTS", [Path("/nonexistent/font.ttf")])
    today = timezone.now().date()
    statement = {
        "trust_name": "Guildtrust",
        "member_number": "M-7",
        "member_name": "Łukasz Żółć – 李",
        "label": "3 Mar – 17 Apr 2026",
        "first_day": today,
        "last_day": today,
        "currency": "EUR",
        "admin_fee_bps": None,
        "pension_bps": None,
        "rows": [
            {
                "kind": "adjustment",
                "refers_to_period": "Feb 2026",
                "lease": 4,
                "studio": "Studio Ł",
                "dataset": "Zbiór",
                "version": 2,
                "lines": [
                    {
                        "use": None,
                        "label": "all uses (not itemised)",
                        "revenue_cents": None,
                        "admin_fee_cents": None,
                        "gross_cents": None,
                        "after_fee_cents": 105,
                        "pension_cents": 5,
                        "net_cents": 100,
                    }
                ],
                "revenue_cents": 0,
                "admin_fee_cents": 0,
                "gross_cents": 0,
                "after_fee_cents": 105,
                "pension_cents": 5,
                "net_cents": 100,
            }
        ],
        **dict.fromkeys(("revenue_cents", "admin_fee_cents", "gross_cents"), 0),
        "after_fee_cents": 105,
        "pension_cents": 5,
        "net_cents": 100,
    }
    assert statements.statement_pdf(statement).startswith(b"%PDF-")
    assert statements.statement_pdf({**statement, "rows": []}).startswith(b"%PDF-")
