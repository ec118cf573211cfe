"""The model register: studios declare the models they trained under a lease; the public register
lists them with their datasets, naming only members who opted in; members see the models
trained on their data, and a withdrawal lists those already trained."""

from datetime import timedelta

import pytest
from django.utils import timezone

from trust.models import Member

pytestmark = pytest.mark.django_db


def _declaration(**changes) -> dict:
    today = timezone.localdate()
    return {
        "name": "Northlight Crowd",
        "version": "2.1",
        "purpose": "Background crowd generation for a feature film",
        "dataset_versions": [{"dataset": "world", "version": 1}],
        "training_started_on": today.isoformat(),
        "training_ended_on": today.isoformat(),
        **changes,
    }


def _declare(world, as_user, **changes):
    return as_user(world.cast.carol).post(
        f"/api/v1/leases/{world.lease_a.pk}/models/", _declaration(**changes), format="json"
    )


def test_studio_staff_declare_a_model_and_list_it(world, as_user):
    response = _declare(world, as_user)
    assert response.status_code == 201, response.json()
    model = response.json()
    assert model["lease"] == world.lease_a.pk
    assert model["dataset_versions"][0]["dataset"] == "world"
    assert model["dataset_versions"][0]["version"] == 1
    listed = as_user(world.cast.carol).get(f"/api/v1/leases/{world.lease_a.pk}/models/").json()
    assert [m["name"] for m in listed["results"]] == ["Northlight Crowd"]
    assert as_user(world.cast.admin).get(f"/api/v1/leases/{world.lease_a.pk}/models/").json()["count"] == 1


def test_a_declaration_is_audited(world, as_user):
    from trust.models import AuditEvent

    _declare(world, as_user)
    assert AuditEvent.objects.filter(action="model.declared").count() == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"dataset_versions": [{"dataset": "world", "version": 2}]}, "version_not_in_lease"),
        ({"dataset_versions": [{"dataset": "elsewhere", "version": 1}]}, "version_not_in_lease"),
        ({"training_started_on": "2020-01-01", "training_ended_on": None}, "training_outside_lease"),
        ({"training_started_on": "2999-01-01", "training_ended_on": None}, "training_outside_lease"),
        ({"training_ended_on": "2020-01-01"}, "training_dates_invalid"),
        ({"training_ended_on": "2999-01-01"}, "training_dates_invalid"),
    ],
)
def test_a_declaration_outside_the_lease_is_a_422(world, as_user, changes, code):
    response = _declare(world, as_user, **changes)
    assert (response.status_code, response.json()["code"]) == (422, code)


@pytest.mark.parametrize(
    "body", [{}, {"name": "m"}, _declaration(dataset_versions=[]), _declaration(training_started_on="soon")]
)
def test_a_malformed_declaration_is_a_400(world, as_user, body):
    response = as_user(world.cast.carol).post(
        f"/api/v1/leases/{world.lease_a.pk}/models/", body, format="json"
    )
    assert response.status_code == 400


def test_the_same_model_version_twice_is_a_409(world, as_user):
    assert _declare(world, as_user).status_code == 201
    response = _declare(world, as_user)
    assert (response.status_code, response.json()["code"]) == (409, "model_already_declared")
    assert _declare(world, as_user, version="2.2").status_code == 201


def test_only_the_leases_studio_declares(world, as_user):
    path = f"/api/v1/leases/{world.lease_a.pk}/models/"
    for who in ("dave", "alice", "outsider"):
        response = as_user(getattr(world.cast, who)).post(path, _declaration(), format="json")
        assert (response.status_code, response.json()["code"]) == (404, "lease_not_found"), who
    admin = as_user(world.cast.admin).post(path, _declaration(), format="json")
    assert (admin.status_code, admin.json()["code"]) == (403, "studio_only")


def test_no_model_is_declared_under_a_lease_not_approved(world, as_user):
    from licensing import services as licensing

    lease = licensing.lease_request(actor=world.cast.carol, terms=world.terms, purpose="later")
    response = as_user(world.cast.carol).post(
        f"/api/v1/leases/{lease.pk}/models/", _declaration(), format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "lease_not_approved")


def test_the_public_register_lists_models_naming_only_members_who_opted_in(world, as_user, anon):
    Member.objects.filter(pk=world.cast.bob.pk).update(listed_publicly=True)
    _declare(world, as_user)
    response = anon.get("/api/v1/transparency/models/")
    assert response.status_code == 200
    (entry,) = response.json()["results"]
    assert entry["name"] == "Northlight Crowd" and entry["version"] == "2.1"
    assert entry["studio"] == world.cast.studio_a.name
    assert entry["datasets"] == [
        {
            "dataset": "world",
            "title": "World",
            "version": 1,
            "manifest_sha256": world.lease_a.version.manifest_sha256,
        }
    ]
    assert entry["member_count"] == 2
    assert entry["listed_members"] == [world.cast.bob.display_name]
    assert world.cast.alice.display_name not in response.content.decode()


def test_the_public_register_page_has_a_models_section(world, as_user, client):
    _declare(world, as_user)
    page = client.get("/transparency/").content.decode()
    assert "Models trained on leased data" in page
    assert "Northlight Crowd" in page


def test_the_public_registers_queries_do_not_grow_with_its_models(
    world, as_user, anon, django_assert_max_num_queries
):
    for n in range(12):
        assert _declare(world, as_user, version=f"1.{n}").status_code == 201
    with django_assert_max_num_queries(6):
        assert anon.get("/api/v1/transparency/models/").json()["count"] == 12


def test_a_member_sees_the_models_trained_on_their_data(world, as_user, client):
    _declare(world, as_user)
    client.force_login(world.cast.alice.user)
    page = client.get("/member/leases/").content.decode()
    assert "Models trained on your data" in page
    assert "Northlight Crowd" in page


def test_a_member_lists_the_models_trained_on_their_data_through_the_api(world, as_user):
    _declare(world, as_user)
    for member in (world.cast.alice, world.cast.bob):
        (entry,) = as_user(member).get("/api/v1/me/models/").json()["results"]
        assert entry["name"] == "Northlight Crowd" and entry["lease"] == world.lease_a.pk
    # Dave's studio's lease holds the same version, but no model was declared under it.
    assert as_user(world.cast.dave).get("/api/v1/me/models/").status_code == 403


def test_a_withdrawal_lists_the_models_trained_before_it(world, as_user, client):
    _declare(world, as_user)
    later = (timezone.localdate() + timedelta(days=1)).isoformat()
    from licensing.models import TrainedModel

    # A model whose training starts tomorrow was not trained on the data before the withdrawal.
    TrainedModel.objects.create(
        lease=world.lease_a,
        name="Not Yet",
        version="0.1",
        purpose="p",
        training_started_on=later,
        declared_by=world.cast.carol,
    )
    grant = world.cast.alice.consents.get(use="training")
    client.force_login(world.cast.alice.user)
    page = client.get(f"/member/consent/{grant.pk}/withdraw/").content.decode()
    assert "Models already trained on your data" in page
    assert "Northlight Crowd" in page
    assert "Not Yet" not in page
