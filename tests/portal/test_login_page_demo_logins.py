"""The login page's note on the demo logins names only logins the trust has: the second trust of
`make federation` has `admin` and `member` but no `studio` (the studio's login lives at its home)."""

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


def _note(client) -> str:
    page = client.get("/accounts/login/").content.decode()
    return page[page.index('id="demo-logins"') : page.index("</section>")]


def test_a_trust_with_a_studio_login_names_admin_member_and_studio(client, settings):
    settings.SHOW_DEMO_LOGINS = True
    admin = factories.AdminFactory(username="admin")
    factories.make_studio(admin=admin, name="Northlight Pictures", staff_username="studio")
    note = _note(client)
    assert "<strong>admin</strong>" in note and "<strong>member</strong>" in note
    assert "<strong>studio</strong> (studio staff)" in note


def test_a_trust_without_a_studio_login_does_not_name_one(client, settings):
    settings.SHOW_DEMO_LOGINS = True
    factories.AdminFactory(username="admin")
    note = _note(client)
    assert (
        "<strong>admin</strong> (trust\n      administrator) or <strong>member</strong> (a performer);"
        in note
    )
    assert "studio" not in note


def test_a_trust_outside_the_embedded_default_names_no_demo_login(client, settings):
    settings.SHOW_DEMO_LOGINS = False
    factories.make_studio(admin=factories.AdminFactory(username="admin"), name="N", staff_username="studio")
    assert 'id="demo-logins"' not in client.get("/accounts/login/").content.decode()
