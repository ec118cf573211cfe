"""Consent texts as records, refusals, re-confirmation under a new text, signed receipts, and the
60-second bound on download links (issue 12, items 1, 2, 3 and 5)."""

import base64
import hashlib
import itertools
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensing.models import Takedown
from licensing.selectors import member_consent_matrix
from tests.factories import MemberFactory, make_asset
from trust import keys, receipts, selectors, services
from trust.consent import active_grants, standing_refusals
from trust.errors import Conflict
from trust.models import AuditEvent, Consent, ConsentText
from trust.signals import consent_withdrawn, licensability_changed

pytestmark = pytest.mark.django_db

TRAINING_V1 = "Studios that lease a dataset including this data may train AI models on it."


def grant(member, use, asset=None):
    return services.consent_grant(actor=member.user, member=member, use=use, asset=asset)


def refuse(member, use, asset=None):
    return services.consent_refuse(actor=member.user, member=member, use=use, asset=asset)


def licensable(asset, *uses, at=None):
    return selectors.is_licensable(asset=asset, uses=uses, at=at or timezone.now())


def publish(admin, use="training", text="Studios may train AI models on this data and must name each model."):
    return services.consent_text_publish(actor=admin, use=use, text=text)


@pytest.fixture
def shared_asset(cast):
    return make_asset(admin=cast.admin, contributors=[(cast.alice, "0.5"), (cast.bob, "0.5")])


@pytest.fixture
def signals_sent():
    """Every licensing signal sent while the test runs, by name."""
    sent = []

    def withdrawn(**kwargs):
        sent.append("consent_withdrawn")

    def changed(**kwargs):
        sent.append("licensability_changed")

    consent_withdrawn.connect(withdrawn, weak=False)
    licensability_changed.connect(changed, weak=False)
    yield sent
    consent_withdrawn.disconnect(withdrawn)
    licensability_changed.disconnect(changed)


# --- 1. Consent texts are records -------------------------------------------------------------


def test_todays_texts_are_published_as_version_1_with_the_hash_grants_always_stored(anon, settings):
    response = anon.get("/api/v1/consent-texts/?page_size=100")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert {row["use"] for row in rows} == {use for use, _ in Consent._meta.get_field("use").choices}
    training = next(row for row in rows if row["use"] == "training")
    assert (training["version"], training["language"], training["text"]) == (1, "en", TRAINING_V1)
    for row in rows:
        hashed = hashlib.sha256(f"{row['terms_version']}\n{row['text']}".encode()).hexdigest()
        assert row["sha256"] == hashed


def test_a_grant_points_at_the_text_shown_and_a_new_version_never_changes_it(cast, as_user):
    old = grant(cast.alice, "training")
    published = as_user(cast.admin).post(
        "/api/v1/consent-texts/", {"use": "training", "text": "Studios may train models; each is named."}
    )
    assert published.status_code == 201 and published.json()["version"] == 2
    assert AuditEvent.objects.filter(action="consent_text.published").count() == 1
    mine = as_user(cast.alice).get("/api/v1/consents/").json()["results"]
    assert [(row["text"]["version"], row["text"]["text"]) for row in mine] == [(1, TRAINING_V1)]
    assert mine[0]["consent_text_sha256"] == ConsentText.objects.get(use="training", version=1).sha256
    new = grant(cast.bob, "training")
    assert (old.text.version, new.text.version) == (1, 2)
    listed = as_user(cast.alice).get("/api/v1/consent-texts/?use=training").json()["results"]
    assert [row["version"] for row in listed] == [1, 2]


def test_the_member_rereads_the_exact_text_of_a_grant_on_its_page(cast, client):
    record = grant(cast.alice, "training")
    publish(cast.admin)
    client.force_login(cast.alice.user)
    page = client.get(reverse("member-consent-record", args=[record.pk])).content.decode()
    assert TRAINING_V1 in page and record.consent_text_sha256 in page
    client.force_login(cast.bob.user)
    assert client.get(reverse("member-consent-record", args=[record.pk])).status_code == 404


def test_publishing_the_same_text_again_is_a_conflict(cast):
    with pytest.raises(Conflict) as refused:
        publish(cast.admin, text=TRAINING_V1)
    assert refused.value.code == "text_unchanged"


def test_reconfirming_under_a_new_version_keeps_every_instant_covered_and_issues_no_takedown(
    cast, shared_asset, signals_sent
):
    for member in (cast.alice, cast.bob):
        grant(member, "capture")
        grant(member, "training")
    old = Consent.objects.get(member=cast.alice, use="training")
    publish(cast.admin)
    cell = member_consent_matrix(cast.alice)["rows"][1]["cells"][0]
    assert cell["grant"] == old and cell["reconfirm"].version == 2
    signals_sent.clear()
    new = services.consent_reconfirm(actor=cast.alice.user, consent=old)
    assert (new.reconfirms_id, new.supersedes_id, new.text.version, new.state) == (old.pk, None, 2, "granted")
    for at in (new.created_at - timedelta(microseconds=1), new.created_at, timezone.now()):
        assert licensable(shared_asset, "training", at=at)
    assert list(active_grants(use="training", at=timezone.now()).filter(member=cast.alice)) == [new]
    assert signals_sent == [] and not Takedown.objects.exists()
    assert member_consent_matrix(cast.alice)["rows"][1]["cells"][0]["reconfirm"] is None
    with pytest.raises(Conflict) as refused:
        services.consent_withdraw(actor=cast.alice.user, consent=old)
    assert refused.value.code == "reconfirmed"
    with pytest.raises(Conflict):
        services.consent_reconfirm(actor=cast.alice.user, consent=new)


def test_the_consent_page_offers_to_reconfirm_and_records_it(cast, client):
    old = grant(cast.alice, "training")
    publish(cast.admin)
    client.force_login(cast.alice.user)
    page = client.get(reverse("member-consent")).content.decode()
    assert "Re-confirm under version 2" in page
    client.post(reverse("member-consent-reconfirm", args=[old.pk]))
    new = Consent.objects.get(reconfirms=old)
    assert new.channel == Consent.Channel.WEB
    assert "Re-confirm under version 2" not in client.get(reverse("member-consent")).content.decode()


# --- 2. Refusals ------------------------------------------------------------------------------


def test_refusing_what_a_grant_covers_is_a_409_withdraw_first(cast, shared_asset):
    grant(cast.alice, "training")
    for asset in (None, shared_asset):
        with pytest.raises(Conflict) as refused:
            refuse(cast.alice, "training", asset)
        assert refused.value.code == "consent_granted"
    grant(cast.bob, "training", shared_asset)
    with pytest.raises(Conflict):
        refuse(cast.bob, "training")  # all assets, while one asset is granted


def test_refusing_twice_is_a_409_and_a_later_grant_ends_the_refusal(cast):
    refusal = refuse(cast.alice, "crowd_generation")
    with pytest.raises(Conflict) as refused:
        refuse(cast.alice, "crowd_generation")
    assert refused.value.code == "already_refused"
    assert list(standing_refusals().filter(member=cast.alice)) == [refusal]
    grant(cast.alice, "crowd_generation")
    assert not standing_refusals().filter(member=cast.alice).exists()
    assert Consent.objects.filter(member=cast.alice, use="crowd_generation").count() == 2  # both kept


def test_the_api_records_a_refusal_and_grants_by_default(cast, as_user):
    client = as_user(cast.alice)
    refused = client.post("/api/v1/consents/", {"use": "training", "decision": "refuse"})
    assert refused.status_code == 201
    assert (refused.json()["state"], refused.json()["active"], refused.json()["channel"]) == (
        "refused",
        False,
        "api",
    )
    granted = client.post("/api/v1/consents/", {"use": "capture"})
    assert (granted.status_code, granted.json()["state"]) == (201, "granted")
    again = client.post("/api/v1/consents/", {"use": "capture", "decision": "refuse"})
    assert (again.status_code, again.json()["code"]) == (409, "consent_granted")


STORY_MEMBERS = itertools.count(1)


def _story():
    """A random history for two contributors: who decides what, on which scope."""
    step = st.tuples(
        st.sampled_from(["alice", "bob"]),
        st.sampled_from(["capture", "training"]),
        st.sampled_from(["all", "asset"]),
        st.sampled_from(["grant", "refuse", "withdraw"]),
    )
    return st.lists(step, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(story=_story())
def test_only_grants_ever_make_an_asset_licensable_whatever_the_refusals(cast, story):
    """The model: a contributor covers a use when one of their grants (on the asset or on all
    assets) is in force. Refusals change nothing; the selector agrees after every step."""
    members = {who: MemberFactory(member_number=f"H-{next(STORY_MEMBERS)}") for who in ("alice", "bob")}
    asset = make_asset(admin=cast.admin, contributors=[(members["alice"], "0.5"), (members["bob"], "0.5")])
    in_force: dict[tuple, Consent] = {}
    for who, use, scope, action in story:
        member, target = members[who], (asset if scope == "asset" else None)
        key = (who, use, scope)
        try:
            if action == "grant":
                in_force[key] = grant(member, use, target)
            elif action == "refuse":
                refuse(member, use, target)
            elif key in in_force:
                services.consent_withdraw(actor=member.user, consent=in_force.pop(key))
        except Conflict:
            pass  # a refused step (granted twice, refusing a grant) changes nothing
        covered = all(
            any((who, use, scope) in in_force for scope in ("all", "asset"))
            for who in members
            for use in ("capture", "training")
        )
        assert licensable(asset, "training") == covered
    if not in_force:
        assert not licensable(asset, "training")


def test_an_asset_with_only_refusals_is_never_licensable(cast, shared_asset):
    for member in (cast.alice, cast.bob):
        for use in ("capture", "training"):
            refuse(member, use)
            refuse(member, use, shared_asset)
    assert not licensable(shared_asset, "training")
    assert selectors.consent_coverage(
        assets=type(shared_asset).objects.filter(pk=shared_asset.pk), at=timezone.now()
    ) == {use: 0 for use in selectors.LICENSABLE_USES}
    assert (
        selectors.consent_changes(asset_ids=[shared_asset.pk], uses=["training"], until=timezone.now()) == []
    )


def test_the_matrix_says_granted_refused_and_not_asked_yet_in_words(cast, client, shared_asset):
    grant(cast.alice, "capture")
    refuse(cast.alice, "training")
    client.force_login(cast.alice.user)
    html = client.get(reverse("member-consent")).content.decode()
    row = lambda use: html.split(f'<tr data-use="{use}"')[1].split("</tr>")[0]  # noqa: E731
    assert "Granted" in row("capture") and "Refused" not in row("capture")
    assert "Refused" in row("training") and "by your refusal for all assets" in row("training")
    assert "Not asked yet" in row("voice_synthesis")
    client.post(reverse("member-consent"), {"use": "crowd_generation", "asset": "", "decision": "refuse"})
    refusal = Consent.objects.get(member=cast.alice, use="crowd_generation")
    assert (refusal.state, refusal.channel) == ("refused", "web")


def test_the_transparency_page_counts_refusals(cast, client):
    grant(cast.alice, "capture")
    refuse(cast.bob, "capture")
    refuse(cast.bob, "training")
    statistics = {row["use"]: row for row in selectors.consent_statistics()}
    assert (statistics["capture"]["granting"], statistics["capture"]["refusals"]) == (1, 1)
    assert (statistics["training"]["granting"], statistics["training"]["refusals"]) == (0, 1)
    html = client.get(reverse("transparency")).content.decode()
    assert "Refusals recorded" in html


# --- 3. Receipts ------------------------------------------------------------------------------


def _receipts_of_every_kind(cast):
    granted = grant(cast.alice, "capture")
    refused = refuse(cast.alice, "training")
    withdrawn = services.consent_withdraw(actor=cast.alice.user, consent=granted)
    return {"granted": granted, "refused": refused, "withdrawn": withdrawn}


def test_every_decision_has_a_receipt_that_verifies_with_the_published_key(cast, as_user, anon, settings):
    published = anon.get("/.well-known/guildtrust.json").json()["public_keys"]
    client = as_user(cast.alice)
    for state, decision in _receipts_of_every_kind(cast).items():
        response = client.get(f"/api/v1/consents/{decision.pk}/receipt/")
        assert response.status_code == 200
        document = response.json()
        assert receipts.verify(document, published)
        receipt = document["receipt"]
        assert receipt["state"] == state
        assert receipt["record_id"] == f"{settings.TRUST_SLUG}:consent:{decision.pk}"
        assert receipt["subject"] == {"member_number": cast.alice.member_number}
        assert receipt["controller"]["slug"] == settings.TRUST_SLUG
        assert (
            receipt["notice_sha256"]
            == decision.consent_text_sha256
            == receipt["purposes"][0]["text"]["sha256"]
        )
        assert receipt["jurisdiction"] == settings.TRUST_JURISDICTION
        assert receipt["method"]["acting_for_subject"] is False
        assert document["signature"]["key_fingerprint"] == keys.current_key().fingerprint
        assert client.get(f"/api/v1/consents/{decision.pk}/receipt/").json() == document  # deterministic
    withdrawal = Consent.objects.get(state="withdrawn")
    assert receipts.signed_receipt(withdrawal)["receipt"]["links"]["withdraws"] == withdrawal.supersedes_id


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path


def _tampered(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "x"
    return f"{value}x"


def _set(document, path, value):
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def test_a_receipt_tampered_in_any_field_does_not_verify(cast):
    published = keys.public_keys()
    document = receipts.signed_receipt(_receipts_of_every_kind(cast)["withdrawn"])
    assert receipts.verify(document, published)
    for path in _leaves(document["receipt"]):
        shown = json.loads(json.dumps(document))
        _set(shown["receipt"], path, _tampered(_leaves_value(document["receipt"], path)))
        assert not receipts.verify(shown, published), path
        # The same change made inside the signed payload, the signature kept: refused too.
        header, payload, signature = document["jws"].split(".")
        body = json.loads(base64.urlsafe_b64decode(payload + "=="))
        _set(body, path, _tampered(_leaves_value(document["receipt"], path)))
        forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
        assert not receipts.verify({**shown, "jws": f"{header}.{forged}.{signature}"}, published), path


def _leaves_value(document, path):
    for step in path:
        document = document[step]
    return document


def test_a_receipt_signed_by_another_key_does_not_verify(cast):
    document = receipts.signed_receipt(grant(cast.alice, "capture"))
    stranger = keys.SigningKey(Ed25519PrivateKey.generate())
    assert not receipts.verify(
        document, [{"kid": keys.current_key().kid, "alg": "Ed25519", "key": stranger.public_hex}]
    )


def test_only_the_member_and_administrators_read_a_receipt(cast, as_user, anon):
    decision = grant(cast.alice, "capture")
    url = f"/api/v1/consents/{decision.pk}/receipt/"
    assert as_user(cast.admin).get(url).status_code == 200
    for stranger in (cast.bob, cast.carol, cast.outsider):
        response = as_user(stranger).get(url)
        assert (response.status_code, response.json()["code"]) == (404, "consent_not_found")
    assert as_user(cast.bob).get(url + "?format=pdf").json()["code"] == "consent_not_found"
    assert anon.get(url).status_code == 401


def test_the_receipt_as_pdf_by_accept_header_or_format(cast, as_user):
    decision = grant(cast.alice, "capture")
    client = as_user(cast.alice)
    url = f"/api/v1/consents/{decision.pk}/receipt/"
    for response in (client.get(url, HTTP_ACCEPT="application/pdf"), client.get(url + "?format=pdf")):
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        assert f"guildtrust-consent-receipt-{decision.pk}.pdf" in response["Content-Disposition"]


def test_the_consent_page_lists_every_receipt(cast, client):
    decisions = _receipts_of_every_kind(cast)
    client.force_login(cast.alice.user)
    html = client.get(reverse("member-consent")).content.decode()
    for decision in decisions.values():
        url = reverse("api-consent-receipt", args=[decision.pk])
        assert f'href="{url}"' in html and f'href="{url}?format=pdf"' in html


def test_a_receipt_is_read_in_a_constant_handful_of_queries(cast, as_user, django_assert_max_num_queries):
    decision = services.consent_withdraw(actor=cast.alice.user, consent=grant(cast.alice, "capture"))
    client = as_user(cast.alice)
    # Authentication and the caller's membership, then the decision with everything its receipt
    # reads in one query: the same count for any receipt.
    with django_assert_max_num_queries(4):
        assert client.get(f"/api/v1/consents/{decision.pk}/receipt/").status_code == 200


def test_the_administrators_page_publishes_a_version_and_counts_grants_to_reconfirm(cast, client):
    grant(cast.alice, "training")
    grant(cast.bob, "training")
    client.force_login(cast.admin)
    url = reverse("operations-consent-texts")
    response = client.post(
        url, {"use": "training", "language": "en", "text": "Studios may train named models."}
    )
    assert response.status_code == 302
    published = ConsentText.objects.get(use="training", version=2)
    assert published.published_by == cast.admin
    assert AuditEvent.objects.filter(action="consent_text.published").count() == 1
    html = client.get(url).content.decode()
    training = html.split('<tr data-use="training"')[1].split("</tr>")[0]
    assert "Version 2" in training and "Studios may train named models." in training
    assert '<td class="num">2</td>' in training  # Alice's and Bob's grants wait for re-confirmation
    for stranger in (cast.alice.user, cast.carol):
        client.force_login(stranger)
        assert client.get(url).status_code == 403
        assert client.post(url, {"use": "training", "language": "en", "text": "x"}).status_code == 403
    assert ConsentText.objects.filter(use="training").count() == 2
