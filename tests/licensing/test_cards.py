"""Croissant dataset cards and ODRL agreements: what mlcroissant and a JSON-LD processor (pyld)
read in them, checked against the lease and the version. Nothing is fetched from the network:
both documents carry their contexts inline, and pyld's document loader refuses any fetch."""

import hashlib
from decimal import Decimal

import mlcroissant as mlc
import pytest
from django.utils import timezone
from pyld import jsonld

from licensing import services as licensing
from licensing import tokens as lease_tokens
from tests.conftest import bearer_client, json_body
from trust import services as trust
from trust.models import Asset

pytestmark = pytest.mark.django_db

ODRL = "http://www.w3.org/ns/odrl/2/"
XSD = "http://www.w3.org/2001/XMLSchema#"
GT = "https://guildtrust.org/ns#"
RDF_VALUE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#value"


def _no_network(url, options=None):
    raise AssertionError(f"the document asked for a remote context: {url}")


def expand(document) -> dict:
    (expanded,) = jsonld.expand(document, {"documentLoader": _no_network})
    return expanded


def _version_card(world, as_user):
    path = f"/api/v1/datasets/{world.dataset.pk}/versions/1/croissant.json"
    response = as_user(world.cast.admin).get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/ld+json"
    return json_body(response)


def _lease_card(world):
    response = bearer_client(world.secret_a).get(f"/api/v1/leases/{world.lease_a.pk}/croissant.json")
    assert response.status_code == 200, response
    return json_body(response)


def _records(card) -> list[dict]:
    dataset = mlc.Dataset(jsonld=card)
    # Not only valid: nothing Croissant recommends is missing, and the context is the standard one.
    assert dataset.metadata.ctx.issues.warnings == set()
    return [
        {key.removeprefix("assets/"): value for key, value in record.items()}
        for record in dataset.records(record_set="assets")
    ]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def test_the_version_card_validates_with_mlcroissant_and_its_records_are_the_frozen_assets(world, as_user):
    card = _version_card(world, as_user)
    records = _records(card)  # mlcroissant raises ValidationError on any error in the card
    frozen = {str(world.alice_asset.pk): world.alice_asset, str(world.bob_asset.pk): world.bob_asset}
    assert {_text(r["id"]): _text(r["sha256"]) for r in records} == {
        pk: asset.sha256 for pk, asset in frozen.items()
    }
    assert {int(r["size"]) for r in records} == {asset.size for asset in frozen.values()}
    files = {f["@id"]: f for f in card["distribution"]}
    assert {pk: f["sha256"] for pk, f in files.items()} == {pk: a.sha256 for pk, a in frozen.items()}
    assert all(f["encodingFormat"] == "application/octet-stream" for f in files.values())
    assert card["conformsTo"][0] == "http://mlcommons.org/croissant/1.1"


def test_the_version_card_says_what_members_consented_to_and_what_is_sensitive(world, as_user):
    card = _version_card(world, as_user)
    uses = " ".join(card["rai:dataUseCases"])
    # Alice and Bob granted training for all their assets; nobody granted voice synthesis.
    assert "Training AI models: members' consent covers 2 of the 2 assets now" in uses
    assert "Voice synthesis: members' consent covers 0 of the 2 assets now" in uses
    sensitive = " ".join(card["rai:personalSensitiveInformation"])
    assert "face scans" in sensitive and "voice" not in sensitive
    assert "withdraw" in " ".join(card["rai:dataLimitations"])
    assert card["rai:dataCollection"]
    assert world.cast.alice.display_name not in str(card)


def test_the_lease_card_lists_only_what_the_lease_may_use_now_and_validates(world, as_user):
    grant = world.cast.bob.consents.get(use="training")
    trust.consent_withdraw(actor=world.cast.bob.user, consent=grant)
    card = _lease_card(world)
    records = _records(card)
    assert [_text(r["id"]) for r in records] == [str(world.alice_asset.pk)]
    (file,) = card["distribution"]
    download = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
    assert file["contentUrl"].endswith(download)
    assert file["sha256"] == world.alice_asset.sha256
    assert card["rai:dataUseCases"] == [
        "Training AI models: Studios that lease a dataset including this data may train AI models on it."
    ]
    assert "Prohibited: Voice synthesis." in card["rai:dataLimitations"]


def test_the_lease_cards_licence_is_the_leases_odrl_agreement(world, as_user):
    card = _lease_card(world)
    agreement = json_body(as_user(world.cast.carol).get(f"/api/v1/leases/{world.lease_a.pk}/odrl.json"))
    assert card["odrl:hasPolicy"] == agreement
    assert card["license"]["url"] == agreement["uid"]
    # The card and its licence expand without fetching anything.
    expanded = expand(card)
    (policy,) = expanded[ODRL + "hasPolicy"]
    assert policy["@id"] == agreement["uid"]
    assert policy["@type"] == [ODRL + "Agreement"]


def test_a_card_with_no_licensable_asset_is_still_valid(world):
    for member in (world.cast.alice, world.cast.bob):
        trust.consent_withdraw(actor=member.user, consent=member.consents.get(use="training"))
    card = _lease_card(world)
    assert card["distribution"] == [] and card["recordSet"] == []
    mlc.Dataset(jsonld=card)


def _only(nodes, **where):
    found = [n for n in nodes if all(n.get(k) == v for k, v in where.items())]
    assert len(found) == 1, (where, nodes)
    return found[0]


def _constraints(rule) -> dict:
    """(leftOperand, operator) -> rightOperand of an expanded rule's constraints or refinements."""
    out = {}
    for constraint in rule.get(ODRL + "constraint", []) + rule.get(ODRL + "refinement", []):
        key = (constraint[ODRL + "leftOperand"][0]["@id"], constraint[ODRL + "operator"][0]["@id"])
        (right,) = constraint[ODRL + "rightOperand"]
        out[key] = right.get("@id") or (right["@value"], right.get("@type"))
    return out


def test_the_odrl_agreement_expands_to_the_leases_terms(world, as_user):
    lease = world.lease_a
    lease.refresh_from_db()
    document = json_body(as_user(world.cast.carol).get(f"/api/v1/leases/{lease.pk}/odrl.json"))
    policy = expand(document)
    assert policy["@type"] == [ODRL + "Agreement"]
    (assigner,) = policy[ODRL + "assigner"]
    (assignee,) = policy[ODRL + "assignee"]
    (target,) = policy[ODRL + "target"]
    assert assigner["@id"] == "http://testserver/" or assigner["@id"].endswith("/")
    assert assignee["@id"].endswith(f"/studios/{lease.studio_id}")
    assert target["@id"].endswith(f"/api/v1/datasets/{world.dataset.pk}/versions/1/croissant.json")

    window = {
        (ODRL + "dateTime", ODRL + "gteq"): (lease.starts_at.isoformat(), XSD + "dateTime"),
        (ODRL + "dateTime", ODRL + "lt"): (lease.ends_at.isoformat(), XSD + "dateTime"),
    }
    permissions = policy[ODRL + "permission"]
    actions = sorted(p[ODRL + "action"][0]["@id"] for p in permissions)
    assert actions == [ODRL + "reproduce", ODRL + "use"]
    use = _only(permissions, **{ODRL + "action": [{"@id": ODRL + "use"}]})
    assert _constraints(use) == {(ODRL + "purpose", ODRL + "eq"): GT + "training", **window}
    assert use[ODRL + "target"] == [{"@id": target["@id"]}]
    download = _only(permissions, **{ODRL + "action": [{"@id": ODRL + "reproduce"}]})
    assert _constraints(download) == window  # the world's terms have no download cap

    prohibited = {_constraints(p)[(ODRL + "purpose", ODRL + "eq")] for p in policy[ODRL + "prohibition"]}
    assert prohibited == {
        GT + use for use in ("replica_active", "replica_passive", "voice_synthesis", "crowd_generation")
    }

    obligations = policy[ODRL + "obligation"]
    paid = {}
    for duty in obligations:
        (action,) = duty[ODRL + "action"]
        if action.get(RDF_VALUE) == [{"@id": ODRL + "compensate"}]:
            terms = _constraints(action)
            amount, kind = terms[(ODRL + "payAmount", ODRL + "eq")]
            per = terms.get((ODRL + "unitOfCount", ODRL + "eq"), "flat fee")
            paid[per] = Decimal(amount)
            assert kind == XSD + "decimal"
            assert action[ODRL + "refinement"][0][ODRL + "unit"] == [{"@id": "urn:iso:std:iso:4217:USD"}]
    assert paid == {
        "flat fee": Decimal(lease.flat_fee_cents) / 100,
        GT + "download": Decimal(lease.price_per_download_cents) / 100,
        GT + "trainingRun": Decimal(lease.price_per_training_run_cents) / 100,
    }
    _only(obligations, **{ODRL + "action": [{"@id": ODRL + "inform"}]})
    delete = _only(obligations, **{ODRL + "action": [{"@id": ODRL + "delete"}]})
    assert _constraints(delete) == {
        (ODRL + "event", ODRL + "gt"): GT + "takedownNotice",
        (ODRL + "elapsedTime", ODRL + "lteq"): ("P30D", XSD + "duration"),
    }


def test_a_download_cap_is_a_count_constraint(world, as_user):
    type(world.lease_a).objects.filter(pk=world.lease_a.pk).update(download_cap=250)
    policy = expand(json_body(as_user(world.cast.admin).get(f"/api/v1/leases/{world.lease_a.pk}/odrl.json")))
    download = _only(policy[ODRL + "permission"], **{ODRL + "action": [{"@id": ODRL + "reproduce"}]})
    assert _constraints(download)[(ODRL + "count", ODRL + "lteq")] == (250, XSD + "integer")


def test_a_terms_quota_on_a_use_is_a_count_of_its_unit(world, as_user):
    type(world.lease_a).objects.filter(pk=world.lease_a.pk).update(use_caps={"training": 12})
    policy = expand(json_body(as_user(world.cast.admin).get(f"/api/v1/leases/{world.lease_a.pk}/odrl.json")))
    use = _only(policy[ODRL + "permission"], **{ODRL + "action": [{"@id": ODRL + "use"}]})
    constraints = _constraints(use)
    assert constraints[(ODRL + "count", ODRL + "lteq")] == (12, XSD + "integer")
    assert constraints[(ODRL + "unitOfCount", ODRL + "eq")] == GT + "trainingRun"


def test_a_revoked_leases_agreement_ends_at_its_revocation(world, as_user):
    licensing.lease_revoke(actor=world.cast.admin, lease=world.lease_a)
    world.lease_a.refresh_from_db()
    policy = expand(json_body(as_user(world.cast.carol).get(f"/api/v1/leases/{world.lease_a.pk}/odrl.json")))
    use = _only(policy[ODRL + "permission"], **{ODRL + "action": [{"@id": ODRL + "use"}]})
    assert _constraints(use)[(ODRL + "dateTime", ODRL + "lt")][0] == world.lease_a.revoked_at.isoformat()


# --- Who may read them ------------------------------------------------------------------------------


def test_the_agreement_is_open_to_the_studio_admin_and_the_lease_token(world, as_user):
    path = f"/api/v1/leases/{world.lease_a.pk}/odrl.json"
    for client in (as_user(world.cast.carol), as_user(world.cast.admin), bearer_client(world.secret_a)):
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("who", ["dave", "alice", "outsider"])
def test_the_agreement_is_hidden_from_another_studio_and_members(world, as_user, who):
    response = as_user(getattr(world.cast, who)).get(f"/api/v1/leases/{world.lease_a.pk}/odrl.json")
    assert (response.status_code, response.json()["code"]) == (404, "lease_not_found")


def test_the_agreement_refuses_another_leases_token_and_ended_tokens(world, anon):
    path = f"/api/v1/leases/{world.lease_a.pk}/odrl.json"
    assert anon.get(path).status_code == 401
    assert bearer_client(world.secret_b).get(path).status_code == 404
    lease_tokens.lease_token_revoke(actor=world.cast.carol, lease=world.lease_a, token=world.token_a)
    refused = bearer_client(world.secret_a).get(path)
    assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")


def test_a_client_asking_for_json_ld_gets_it(world, as_user):
    client = as_user(world.cast.carol)
    response = client.get(f"/api/v1/leases/{world.lease_a.pk}/odrl.json", HTTP_ACCEPT="application/ld+json")
    assert response.status_code == 200 and response["Content-Type"] == "application/ld+json"
    card = bearer_client(world.secret_a).get(
        f"/api/v1/leases/{world.lease_a.pk}/croissant.json", HTTP_ACCEPT="application/ld+json"
    )
    assert card.status_code == 200 and card["Content-Type"] == "application/ld+json"


def test_a_requested_lease_has_no_agreement_yet(world, as_user):
    lease = licensing.lease_request(actor=world.cast.carol, terms=world.terms, purpose="later")
    response = as_user(world.cast.carol).get(f"/api/v1/leases/{lease.pk}/odrl.json")
    assert (response.status_code, response.json()["code"]) == (409, "lease_not_approved")


def test_the_version_card_of_a_version_that_does_not_exist_is_a_404(world, as_user):
    response = as_user(world.cast.admin).get(f"/api/v1/datasets/{world.dataset.pk}/versions/9/croissant.json")
    assert (response.status_code, response.json()["code"]) == (404, "version_not_found")


def test_an_expired_lease_token_gets_no_card(world):
    type(world.token_a).objects.filter(pk=world.token_a.pk).update(expires_at=timezone.now())
    response = bearer_client(world.secret_a).get(f"/api/v1/leases/{world.lease_a.pk}/croissant.json")
    assert (response.status_code, response.json()["code"]) == (401, "token_expired")


# --- Volume -----------------------------------------------------------------------------------------


def test_a_cards_queries_do_not_grow_with_its_assets(world, as_user, django_assert_max_num_queries):
    extra = [
        trust.asset_create(
            actor=world.cast.admin,
            kind="voice_recording",
            title=f"take {n}",
            content_type="audio/wav",
            size=n + 1,
            sha256=hashlib.sha256(str(n).encode()).hexdigest(),
            contributors=[{"member": world.cast.alice.pk, "share": "1"}],
        )[0]
        for n in range(30)
    ]
    # Verified as far as this test cares (no bytes needed to describe them).
    Asset.objects.filter(pk__in=[a.pk for a in extra]).update(status=Asset.Status.AVAILABLE)
    trust.dataset_add_assets(actor=world.cast.admin, dataset=world.dataset, asset_ids=[a.pk for a in extra])
    trust.dataset_freeze(actor=world.cast.admin, dataset=world.dataset)
    client = as_user(world.cast.admin)
    with django_assert_max_num_queries(20):
        card = json_body(client.get(f"/api/v1/datasets/{world.dataset.pk}/versions/2/croissant.json"))
    assert len(card["distribution"]) == 32
    assert len(card["recordSet"][0]["data"]) == 32


def test_a_federated_leases_agreement_states_each_trusts_part(world, as_user):
    from federation.models import Peer
    from licensing.models import LeasePart

    peer = Peer.objects.create(
        slug="equity-uk",
        name="Equity UK Performers Data Trust",
        currency="USD",
        base_url="https://equity-uk.example/",
        api_url="https://equity-uk.example/api/v1/",
    )
    lease = world.lease_a
    LeasePart.objects.create(
        lease=lease,
        peer=peer,
        remote_terms_id=7,
        remote_lease_id=12,
        status=LeasePart.Status.APPROVED,
        starts_at=lease.starts_at,
        ends_at=lease.ends_at,
        offer={
            "permitted_uses": ["voice_synthesis"],
            "download_cap": 40,
            "price_per_download_cents": 5,
            "dataset": {"slug": "eq-voices"},
        },
    )
    policy = expand(json_body(as_user(world.cast.carol).get(f"/api/v1/leases/{lease.pk}/odrl.json")))
    theirs = [p for p in policy[ODRL + "permission"] if ODRL + "assigner" in p]
    assert {p[ODRL + "assigner"][0]["@id"] for p in theirs} == {"https://equity-uk.example/"}
    assert {p[ODRL + "target"][0]["@id"] for p in theirs} == {
        "https://equity-uk.example/api/v1/terms/7#eq-voices"
    }
    use = _only(theirs, **{ODRL + "action": [{"@id": ODRL + "use"}]})
    assert _constraints(use)[(ODRL + "purpose", ODRL + "eq")] == GT + "voice_synthesis"
    download = _only(theirs, **{ODRL + "action": [{"@id": ODRL + "reproduce"}]})
    assert _constraints(download)[(ODRL + "count", ODRL + "lteq")] == (40, XSD + "integer")
    # This trust's own permissions keep the policy's assigner (no assigner of their own).
    ours = [p for p in policy[ODRL + "permission"] if ODRL + "assigner" not in p]
    assert {_constraints(p).get((ODRL + "purpose", ODRL + "eq")) for p in ours} == {GT + "training", None}
    amounts = [
        _constraints(duty[ODRL + "action"][0])[(ODRL + "payAmount", ODRL + "eq")][0]
        for duty in policy[ODRL + "obligation"]
        if duty[ODRL + "action"][0].get(RDF_VALUE)
    ]
    assert "0.05" in amounts


@pytest.mark.embedded
def test_on_the_embedded_default_python_writes_the_same_cards(world, as_user):
    """SQLite has no json_build_object: the cards' entries are encoded in Python there."""
    version = _version_card(world, as_user)
    lease = _lease_card(world)
    for card in (version, lease):
        assert len(_records(card)) == 2
        assert {f["sha256"] for f in card["distribution"]} == {
            world.alice_asset.sha256,
            world.bob_asset.sha256,
        }
        assert all(f["contentSize"].endswith(" B") for f in card["distribution"])


def test_at_a_parts_trust_the_peers_studio_pays_its_home_trust(world, as_user):
    from django.contrib.auth.models import Group

    from federation.models import Peer
    from licensing.models import Lease, Studio

    home = Peer.objects.create(
        slug="sag-aftra",
        name="SAG-AFTRA",
        currency="USD",
        base_url="https://sag.example",
        api_url="https://sag.example/api/v1/",
    )
    studio = Studio.objects.create(
        name="Northlight Pictures",
        group=Group.objects.create(name="peer studio"),
        home_peer=home,
        home_studio_id=3,
    )
    Lease.objects.filter(pk=world.lease_a.pk).update(studio=studio)
    policy = expand(json_body(as_user(world.cast.admin).get(f"/api/v1/leases/{world.lease_a.pk}/odrl.json")))
    assert policy[ODRL + "assignee"][0]["@id"] == "https://sag.example/studios/3"
    payees = {
        duty[ODRL + "compensatedParty"][0]["@id"]
        for duty in policy[ODRL + "obligation"]
        if ODRL + "compensatedParty" in duty
    }
    assert payees == {"https://sag.example/"}
