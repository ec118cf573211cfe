"""The retention and destruction pages without a browser: the form refuses nonsense and saves
nothing, the run button queues the job, each page is for its role only, and each page's
queries stay flat however many assets and destructions there are."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import Takedown
from trust import destruction
from trust import services as trust
from trust.models import Asset, AssetDestruction, Consent

pytestmark = pytest.mark.django_db


def _signed_in(client, user):
    client.force_login(getattr(user, "user", user))
    return client


def _destroy_bobs_share(world):
    grant = Consent.objects.get(member=world.cast.bob, use="capture", state="granted", asset__isnull=True)
    trust.consent_withdraw(actor=world.cast.bob.user, consent=grant)
    later = max(Takedown.objects.values_list("attest_due_at", flat=True))
    destruction.destroy_due(at=later + timedelta(seconds=1))
    return AssetDestruction.objects.get(asset=world.bob_asset)


def test_zero_days_is_refused_on_the_page_and_nothing_is_saved(world, client):
    page = _signed_in(client, world.cast.admin).post("/operations/retention/", {"face_scan": "0"})
    assert page.status_code == 200
    assert "greater than or equal to 1" in page.content.decode()
    assert destruction.retention_periods()["face_scan"] is None


def test_the_form_sets_every_kind_at_once_and_blank_means_no_limit(world, client):
    destruction.retention_set(actor=world.cast.admin, periods={"script": 10})
    answer = _signed_in(client, world.cast.admin).post("/operations/retention/", {"face_scan": "400"})
    assert answer.status_code == 302
    assert destruction.retention_periods() == {
        **{kind: None for kind in Asset.Kind.values},
        "face_scan": 400,
    }


def test_run_now_queues_the_job_which_destroys_what_is_due(world, client, django_capture_on_commit_callbacks):
    destruction.retention_set(actor=world.cast.admin, periods={"face_scan": 1})
    Asset.objects.update(created_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        answer = _signed_in(client, world.cast.admin).post("/operations/retention/run/", follow=True)
    assert "Destruction is running" in answer.content.decode()
    # Tasks run eagerly in the suite, as on the embedded default.
    assert set(Asset.objects.values_list("status", flat=True)) == {Asset.Status.DESTROYED}


@pytest.mark.parametrize(
    "path, allowed", [("/operations/retention/", "admin"), ("/member/destroyed/", "alice")]
)
def test_each_page_is_for_its_role_only(world, client, path, allowed):
    people = {"admin": world.cast.admin, "alice": world.cast.alice.user, "carol": world.cast.carol}
    for name, user in people.items():
        client.force_login(user)
        assert client.get(path).status_code == (200 if name == allowed else 403), name


def test_the_member_sees_only_destructions_of_their_own_assets(world, client):
    done = _destroy_bobs_share(world)
    alice_page = _signed_in(client, world.cast.alice).get("/member/destroyed/").content.decode()
    assert f'data-destruction="{done.pk}"' in alice_page  # Alice contributes to Bob's asset
    outsider = trust.member_enrol(
        actor=world.cast.admin,
        username="zed",
        password="a-long-enough-password",
        email="zed@example.org",
        member_number="M-09999",
        display_name="Zed",
    )
    assert f'data-destruction="{done.pk}"' not in (
        _signed_in(client, outsider).get("/member/destroyed/").content.decode()
    )


def test_the_pages_stay_flat(world, client, django_assert_max_num_queries):
    _destroy_bobs_share(world)
    destruction.retention_set(actor=world.cast.admin, periods={"face_scan": 30, "script": 5})
    _signed_in(client, world.cast.admin)
    with django_assert_max_num_queries(16):
        assert client.get("/operations/retention/").status_code == 200
    _signed_in(client, world.cast.alice)
    with django_assert_max_num_queries(16):
        assert client.get("/member/destroyed/").status_code == 200


@pytest.mark.parametrize("use, warned", [("capture", True), ("training", False)])
def test_withdrawing_capture_says_the_data_will_be_destroyed(world, client, use, warned):
    grant = Consent.objects.get(member=world.cast.alice, use=use, state="granted", asset__isnull=True)
    page = _signed_in(client, world.cast.alice).get(f"/member/consent/{grant.pk}/withdraw/")
    assert page.status_code == 200
    assert ("The trust then destroys" in page.content.decode()) is warned
