"""Two whole trusts on the real stack, federated (FEDERATION.md), for the fault tests and the
whole-story test: `sag-aftra` (the studio's home) and `equity-uk`, each a TrustProcess (gunicorn)
on its own PostgreSQL database copied from one migrated template, each with its own Celery worker
and beat on its own Redis database of the machine's Redis, each with its own bucket on one S3
server (SeaweedFS). Everything after the members' and datasets' setting goes through the trusts'
APIs, as two administrators and a studio would: peering both ways, sharing terms, the studio's
request of one lease over both trusts, each administrator approving its own part, the `ft_` token.

`TwoTrusts` is a context manager (no pytest here); tests/federation/conftest.py makes it the
module-scoped fixture `two_trusts`. `ApiUser` drives either trust over HTTP as a user."""

from __future__ import annotations

import json
import re
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field

import requests

from tests.factories import PASSWORD
from tests.servers import S3Server, TrustProcess, migrated_template

ADMIN_PASSWORD = "two-trusts-admin-password-1"
HOME, PEER = "sag-aftra", "equity-uk"
# How often each trust's beat sends again what a peer did not take: short, so a test sees a peer
# that came back get its messages within seconds (production: every minute).
RESEND_SECONDS = 2

# Each trust's own members (alice, bob, cleo at that trust), their consents, assets in the trust's
# bucket, a frozen dataset and training terms; at the home trust the studio and its staff; at the
# peer a studio of its own with an active local lease on the same terms (the benchmark's `lt_`
# baseline). Through the services, as the setting of the story; prints the ids as JSON.
SEED = """
import json
from django.conf import settings
from django.contrib.auth import get_user_model
from licensing import services as licensing
from tests import factories
from trust import services as trust

slug = settings.TRUST_SLUG
admin = get_user_model().objects.get(username="admin")
prefix = "EQ" if slug == "equity-uk" else "SA"
members, assets = {}, []
for n, name in enumerate(("alice", "bob", "cleo")):
    member = factories.MemberFactory(
        user__username=f"{name}", member_number=f"{prefix}-{n:04d}", display_name=f"{name.title()} of {slug}"
    )
    factories.grant_all(member, "training", "crowd_generation")
    asset = factories.make_asset(
        admin=admin, contributors=[(member, "1")], data=b"%s scan of %s" % (slug.encode(), name.encode())
    )
    members[name] = {"member": member.pk, "asset": str(asset.pk)}
    assets.append(asset)
dataset = trust.dataset_create(actor=admin, slug=f"{slug}-crowd", title=f"{settings.TRUST_NAME} crowd")
trust.dataset_add_assets(actor=admin, dataset=dataset, asset_ids=[a.pk for a in assets])
trust.dataset_freeze(actor=admin, dataset=dataset)
terms = licensing.terms_create(
    actor=admin, dataset=dataset, title=f"{slug} crowd, training", permitted_uses=["training"],
    duration_days=30, flat_fee_cents=50000, download_cap=1000000,
)
seeded = {"members": members, "terms": terms.pk, "dataset": dataset.pk}
if slug == "sag-aftra":
    studio, _ = factories.make_studio(admin=admin, name="Northlight Pictures", staff_username="studio")
    seeded["studio"] = studio.pk
else:
    studio, staff = factories.make_studio(admin=admin, name="Thames Animation", staff_username="local-studio")
    lease = licensing.lease_approve(
        actor=admin, lease=licensing.lease_request(actor=staff, terms=terms, purpose="Local baseline")
    )
    seeded["local_lease"] = lease.pk
print(json.dumps(seeded))
"""


class ApiUser:
    """One user of one trust, signed in with a `ut_` token, over HTTP (one kept-alive session)."""

    def __init__(self, trust: TrustProcess, username: str, password: str):
        self.trust = trust
        self.username = username
        self.session = requests.Session()
        answer = self.session.post(
            f"{trust.url}/api/v1/auth/token/", json={"username": username, "password": password}, timeout=60
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['token']}"

    def request(self, method: str, path: str, body: dict | None = None, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, f"{self.trust.url}{path}", json=body, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: dict | None = None, **kwargs) -> requests.Response:
        return self.request("POST", path, body or {}, **kwargs)

    def put(self, path: str, body: dict | None = None, **kwargs) -> requests.Response:
        return self.request("PUT", path, body or {}, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


def signed_in_page(trust: TrustProcess, username: str, password: str, path: str) -> requests.Response:
    """A portal page as `username` sees it, signed in through the login form."""
    browser = requests.Session()
    login = browser.get(f"{trust.url}/accounts/login/", timeout=60)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    browser.post(
        f"{trust.url}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{trust.url}/accounts/login/"},
        timeout=60,
    )
    return browser.get(f"{trust.url}{path}", timeout=60)


def until(check, *, seconds: float, every: float = 0.2):
    """Poll `check` until it answers truthy or `seconds` pass; its last answer."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(every)


@dataclass
class TwoTrusts:
    """Both trusts, up, peered, seeded and holding one active federated lease (home: sag-aftra).

    `database_url` names the PostgreSQL server and the prefix of the trusts' databases;
    `redis_url` the machine's Redis (the trusts use and flush the two database numbers beside
    its own, never 0: 7 and 8 beside 6, 14 and 13 beside `make test`'s 15), or the two
    `redis_databases` given (home's, peer's). With `story=False` both trusts stop after their
    seeding (no peering, sharing, lease or token): the whole-story test does those itself."""

    database_url: str
    redis_url: str
    redis_databases: tuple[int, int] | None = None
    story: bool = True
    home: TrustProcess = field(init=False)
    peer: TrustProcess = field(init=False)
    s3: S3Server = field(init=False)
    seeded: dict = field(init=False, default_factory=dict)
    lease: int = field(init=False, default=0)  # the federated lease's id at the home trust
    peer_lease: int = field(init=False, default=0)  # its part's lease id at equity-uk
    ft_token: str = field(init=False, default="")
    ft_token_id: int = field(init=False, default=0)
    startup_seconds: dict = field(init=False, default_factory=dict)

    def __enter__(self) -> TwoTrusts:
        self._stack = ExitStack()
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        # Both trusts stop side by side (each waits on its worker's and web's warm shutdown).
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda trust: trust.__exit__(None, None, None), self.trusts.values()))
        self._stack.close()

    def _timed(self, step: str, started: float) -> float:
        now = time.monotonic()
        self.startup_seconds[step] = round(now - started, 2)
        return now

    def _start(self) -> None:
        import redis

        began = clock = time.monotonic()
        base, db = self.redis_url.rsplit("/", 1)
        # The two database numbers beside the suite's (never 0, which a developer's own tools
        # likely use): they are flushed here.
        suite_db = int(db or 0)
        numbers = (
            self.redis_databases
            or [n for n in (suite_db + 1, suite_db + 2, suite_db - 1, suite_db - 2) if 0 < n <= 15][:2]
        )
        redis_urls = {HOME: f"{base}/{numbers[0]}", PEER: f"{base}/{numbers[1]}"}
        for url in redis_urls.values():
            redis.Redis.from_url(url).flushdb()  # no task left over from an earlier run
        with ThreadPoolExecutor(2) as pool:
            s3_started = pool.submit(self._stack.enter_context, S3Server(log_name="s3-two-trusts.log"))
            template = pool.submit(migrated_template, f"{self.database_url}_trusts").result()
            self.s3 = s3_started.result()
        clock = self._timed("s3 server and migrated template", clock)

        def trust(slug: str, name: str) -> TrustProcess:
            bucket = f"{slug}-assets"
            self.s3.create_bucket(bucket)
            env = {
                "DATABASE_URL": f"{self.database_url}_{slug.replace('-', '_')}",
                "REDIS_URL": redis_urls[slug],
                "CELERY_TASK_ALWAYS_EAGER": "false",
                "S3_BUCKET": bucket,
                "S3_ENDPOINT_URL": self.s3.endpoint_url,
                "S3_ACCESS_KEY_ID": self.s3.access_key,
                "S3_SECRET_ACCESS_KEY": self.s3.secret_key,
                "SECRET_KEY": secrets.token_urlsafe(50),
                "TRUST_NAME": name,
                "TRUST_CURRENCY": "GBP",
                "FEDERATION_RESEND_SECONDS": str(RESEND_SECONDS),
                "GUILDTRUST_VAR_DIR": self._stack.enter_context(tempfile.TemporaryDirectory()),
            }
            # Two web workers: a call to the other trust may call back while the first waits.
            process = TrustProcess(
                slug=slug,
                env=env,
                admin_password=ADMIN_PASSWORD,
                template=template,
                web_workers=2,
                worker=True,
                beat=True,
            )
            return self._stack.enter_context(process)

        with ThreadPoolExecutor(2) as pool:
            home = pool.submit(trust, HOME, "SAG-AFTRA Performers Trust")
            peer = pool.submit(trust, PEER, "Equity UK Performers Trust")
            self.home, self.peer = home.result(), peer.result()
        clock = self._timed("both trusts up (database, web, worker and beat)", clock)

        with ThreadPoolExecutor(2) as pool:
            # In-process tasks for the seed: its uploads are verified as it goes (the trust's own
            # worker verifying the same upload at once would race it for the staging key).
            seeds = {
                slug: pool.submit(
                    t.manage, "shell", "-c", SEED, extra_env={"CELERY_TASK_ALWAYS_EAGER": "true"}
                )
                for slug, t in self.trusts.items()
            }
            self.seeded = {
                slug: json.loads(seed.result().strip().splitlines()[-1]) for slug, seed in seeds.items()
            }
        clock = self._timed("members, assets (S3), datasets and terms", clock)
        if self.story:
            self._peer_and_share()
            clock = self._timed("peered and terms shared (APIs)", clock)
            self._federated_lease()
            self._timed("federated lease active, ft_ token minted (APIs, workers)", clock)
        self.startup_seconds["total"] = round(time.monotonic() - began, 2)

    @property
    def trusts(self) -> dict[str, TrustProcess]:
        return {HOME: self.home, PEER: self.peer}

    # --- People, over HTTP -------------------------------------------------------------------

    def admin(self, slug: str) -> ApiUser:
        return ApiUser(self.trusts[slug], "admin", ADMIN_PASSWORD)

    def studio(self) -> ApiUser:
        """The studio's staff, at its home trust."""
        return ApiUser(self.home, "studio", PASSWORD)

    def local_studio(self) -> ApiUser:
        """Staff of equity-uk's own studio, holding the local lease `seeded[PEER]['local_lease']`."""
        return ApiUser(self.peer, "local-studio", PASSWORD)

    def member(self, slug: str, name: str) -> ApiUser:
        """alice, bob or cleo, members of trust `slug`."""
        return ApiUser(self.trusts[slug], name, PASSWORD)

    def page(self, slug: str, username: str, path: str, password: str = PASSWORD) -> requests.Response:
        return signed_in_page(self.trusts[slug], username, password, path)

    def bearer(self, token: str | None = None) -> dict:
        return {"Authorization": f"Bearer {token or self.ft_token}"}

    def download_url(self, slug: str, asset: str) -> str:
        """The gateway URL of `asset` at trust `slug` for the federated lease (as the manifest
        lists it)."""
        lease = self.lease if slug == HOME else self.peer_lease
        return f"{self.trusts[slug].url}/api/v1/leases/{lease}/assets/{asset}/download/"

    def asset(self, slug: str, member: str) -> str:
        return self.seeded[slug]["members"][member]["asset"]

    def shell(self, slug: str, code: str) -> str:
        """Run Python in trust `slug`'s Django (a look at its rows, as an operator would); the
        last line it printed."""
        return self.trusts[slug].manage("shell", "-c", code).strip().splitlines()[-1]

    def count(self, slug: str, model: str, **filters) -> int:
        """Rows of `app.Model` matching `filters` at trust `slug`."""
        app, name = model.split(".")
        return int(
            self.shell(
                slug,
                f"from {app}.models import {name}; print({name}.objects.filter(**{filters!r}).count())",
            )
        )

    # --- The story's setting, through the APIs ---------------------------------------------

    def _peer_and_share(self) -> None:
        from trust.keys import fingerprint_of

        admins = {slug: self.admin(slug) for slug in self.trusts}
        for slug, other in ((HOME, PEER), (PEER, HOME)):
            published = requests.get(
                f"{self.trusts[other].url}/.well-known/guildtrust.json", timeout=60
            ).json()
            added = admins[slug].post(
                "/api/v1/federation/peers/",
                {
                    "url": self.trusts[other].url,
                    "fingerprint": fingerprint_of(published["public_keys"][0]["key"]),
                },
            )
            assert added.status_code == 201, (slug, added.text)
        for slug, other in ((HOME, PEER), (PEER, HOME)):
            # Each side's hello goes out from its worker: live once both have been heard.
            def live(admin=admins[slug], other=other):
                rows = admin.get("/api/v1/federation/peers/").json()["results"]
                return any(row["slug"] == other and row["state"] == "live" for row in rows)

            assert until(live, seconds=30), f"peering of {slug} with {other} never became live"
            terms = self.seeded[slug]["terms"]
            shared = admins[slug].put(f"/api/v1/terms/{terms}/shared-with/", {"peers": [other]})
            assert shared.status_code == 200, (slug, shared.text)
        self.refresh_offers()

    def refresh_offers(self) -> int:
        """The home trust's beat fetches peers' offers every minute; a test does not wait for it
        but runs its job now. How many offers equity-uk shares with the home trust."""
        return int(
            self.shell(
                HOME,
                "from federation.models import Peer; from licensing import services; "
                f"print(services.peer_offers_refresh(peer=Peer.objects.get(slug={PEER!r})))",
            )
        )

    def _federated_lease(self) -> None:
        studio, home_admin, peer_admin = self.studio(), self.admin(HOME), self.admin(PEER)
        requested = studio.post(
            "/api/v1/leases/",
            {
                "purpose": "Crowd scene, two unions",
                "parts": [
                    {"trust": HOME, "terms": self.seeded[HOME]["terms"]},
                    {"trust": PEER, "terms": self.seeded[PEER]["terms"]},
                ],
            },
        )
        assert requested.status_code == 201, requested.text
        self.lease = requested.json()["id"]

        def forwarded():
            rows = peer_admin.get("/api/v1/leases/").json()["results"]
            return next((row for row in rows if row.get("federated_from") == HOME), None)

        theirs = until(forwarded, seconds=30)
        assert theirs, "equity-uk's worker never received the forwarded part"
        self.peer_lease = theirs["id"]
        approved = peer_admin.post(f"/api/v1/leases/{self.peer_lease}/approve/")
        assert approved.status_code == 200, approved.text
        assert home_admin.post(f"/api/v1/leases/{self.lease}/approve/").status_code == 200

        def active():
            return studio.get(f"/api/v1/leases/{self.lease}/").json()["status"] == "active"

        assert until(active, seconds=30), studio.get(f"/api/v1/leases/{self.lease}/").json()
        minted = studio.post(f"/api/v1/leases/{self.lease}/tokens/", {"name": "render farm"})
        assert minted.status_code == 201, minted.text
        self.ft_token, self.ft_token_id = minted.json()["token"], minted.json()["id"]
