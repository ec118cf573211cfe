"""Every page names the trust it belongs to: two trusts may be open side by side in one browser
(`make federation`), and the header's brand is the product's, not the trust's."""

import pytest

pytestmark = pytest.mark.django_db


def test_every_page_names_the_trust_in_its_footer(client, settings):
    settings.TRUST_NAME = "Equity UK Performers Data Trust"
    for path in ("/", "/accounts/login/", "/transparency/"):
        page = client.get(path).content.decode()
        footer = page[page.index('<footer class="site-footer">') :]
        assert "Equity UK Performers Data Trust, on Guildtrust" in footer, path
