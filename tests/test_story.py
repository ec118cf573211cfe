"""The whole trust, end to end over HTTP: from a member's scan to a member's royalty.

Runs twice: on the real stack (PostgreSQL, Redis, the S3 server, a Celery worker) and on the
embedded default (SQLite, local object store, tasks in-process)."""

import hashlib
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.utils import timezone

from tests.factories import PASSWORD, AdminFactory

SCANS = {
    "face": b"alice-and-bob face scan " * 400,
    "mocap": b"alice-and-bob stunt mocap " * 300,
    "crowd": b"carla crowd footage " * 500,
}


class Api:
    """A tiny HTTP client for the story: bearer token, JSON, no redirects followed."""

    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base.rstrip("/"), token

    def call(self, method: str, path: str, json=None, expect: int | None = None):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = requests.request(
            method, f"{self.base}{path}", json=json, headers=headers, allow_redirects=False, timeout=30
        )
        if expect is not None:
            assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response

    def login(self, username: str, password: str = PASSWORD) -> "Api":
        body = self.call(
            "POST", "/api/v1/auth/token/", {"username": username, "password": password}, expect=201
        ).json()
        assert body["token"].startswith("ut_")
        return Api(self.base, body["token"])


def wait_for(fetch, done, *, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"gave up waiting; last value {value}"
        time.sleep(0.2)


@pytest.fixture
def real_stack(transactional_db, live_server, s3_settings, celery_worker, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def embedded_stack(transactional_db, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


def story(base: str):
    AdminFactory(username="trustee")
    admin = Api(base).login("trustee")
    admin.call("PUT", "/api/v1/settings/rates/", {"admin_fee_bps": 1000, "pension_bps": 500}, expect=200)

    # Enrol three members.
    members = {}
    for username, number in (("alice", "M-001"), ("bob", "M-002"), ("carla", "M-003")):
        body = admin.call(
            "POST",
            "/api/v1/members/",
            {
                "username": username,
                "password": PASSWORD,
                "email": f"{username}@example.test",
                "member_number": number,
                "display_name": username.title(),
            },
            expect=201,
        ).json()
        members[username] = body["id"]
    alice, bob, carla = (Api(base).login(u) for u in ("alice", "bob", "carla"))

    # Upload: the bytes go straight to storage through the presigned URL, then verification.
    shares = {
        "face": [("alice", "0.5"), ("bob", "0.5")],
        "mocap": [("alice", "0.25"), ("bob", "0.75")],
        "crowd": [("carla", "1")],
    }
    assets = {}
    for name, data in SCANS.items():
        body = admin.call(
            "POST",
            "/api/v1/assets/",
            {
                "kind": "motion_capture" if name == "mocap" else "face_scan",
                "title": name,
                "content_type": "application/octet-stream",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "contributors": [{"member": members[m], "share": s} for m, s in shares[name]],
            },
            expect=201,
        ).json()
        assert body["status"] == "pending"
        upload = body["upload"]
        put = requests.request(
            upload["method"], upload["url"], data=data, headers=upload["headers"], timeout=30
        )
        assert put.status_code == 200, put.text
        admin.call("POST", f"/api/v1/assets/{body['id']}/complete/", expect=202)
        assets[name] = body["id"]
    for asset_id in assets.values():
        verified = wait_for(
            lambda a=asset_id: admin.call("GET", f"/api/v1/assets/{a}/").json(),
            lambda body: body["status"] != "verifying",
        )
        assert verified["status"] == "available"

    # A forged upload (bytes that do not match the declared hash) never becomes available.
    forged = admin.call(
        "POST",
        "/api/v1/assets/",
        {
            "kind": "still_image",
            "title": "forged",
            "content_type": "image/png",
            "size": 5,
            "sha256": hashlib.sha256(b"right").hexdigest(),
            "contributors": [{"member": members["alice"], "share": "1"}],
        },
        expect=201,
    ).json()
    requests.put(forged["upload"]["url"], data=b"wrong", headers=forged["upload"]["headers"], timeout=30)
    admin.call("POST", f"/api/v1/assets/{forged['id']}/complete/", expect=202)
    forged = wait_for(
        lambda: admin.call("GET", f"/api/v1/assets/{forged['id']}/").json(),
        lambda body: body["status"] != "verifying",
    )
    assert forged["status"] == "failed"

    # Double opt-in: capture, then training, for all of each member's assets.
    grants = {}
    for name, client in (("alice", alice), ("bob", bob), ("carla", carla)):
        for use in ("capture", "training"):
            grants[(name, use)] = client.call("POST", "/api/v1/consents/", {"use": use}, expect=201).json()[
                "id"
            ]

    # Curate and freeze.
    dataset = admin.call(
        "POST", "/api/v1/datasets/", {"slug": "story", "title": "Story set"}, expect=201
    ).json()
    admin.call(
        "POST", f"/api/v1/datasets/{dataset['id']}/items/", {"assets": list(assets.values())}, expect=201
    )
    version = admin.call("POST", f"/api/v1/datasets/{dataset['id']}/versions/", expect=201).json()
    lines = "".join(
        f"{a}:{hashlib.sha256(SCANS[n]).hexdigest()}\n" for a, n in sorted((a, n) for n, a in assets.items())
    )
    assert version == {
        **version,
        "number": 1,
        "asset_count": 3,
        "manifest_sha256": hashlib.sha256(lines.encode()).hexdigest(),
    }

    # A studio, its staff, terms, a lease request and its approval.
    studio = admin.call("POST", "/api/v1/studios/", {"name": "Northlight"}, expect=201).json()
    admin.call(
        "POST",
        f"/api/v1/studios/{studio['id']}/staff/",
        {"username": "nora", "password": PASSWORD},
        expect=201,
    )
    terms = admin.call(
        "POST",
        "/api/v1/terms/",
        {
            "dataset": dataset["id"],
            "title": "Training, 30 days",
            "permitted_uses": ["training"],
            "duration_days": 30,
            "flat_fee_cents": 10_000,
            "price_per_download_cents": 100,
            "price_per_training_run_cents": 500,
            "price_per_generated_second_cents": 0,
            "download_cap": 50,
            "currency": "USD",
        },
        expect=201,
    ).json()
    nora = Api(base).login("nora")
    catalog = nora.call("GET", "/api/v1/catalog/", expect=200).json()["results"]
    entry = next(e for e in catalog if e["id"] == terms["id"])
    assert entry["dataset"]["asset_count"] == 3 and entry["flat_fee_cents"] == 10_000
    lease = nora.call(
        "POST", "/api/v1/leases/", {"terms": terms["id"], "purpose": "crowd model"}, expect=201
    ).json()
    assert lease["status"] == "requested"
    lease = admin.call("POST", f"/api/v1/leases/{lease['id']}/approve/", expect=200).json()
    assert lease["status"] == "active" and lease["version"] == 1

    # A lease token, the manifest, and a download whose bytes match their hash.
    minted = nora.call("POST", f"/api/v1/leases/{lease['id']}/tokens/", {"name": "farm"}, expect=201).json()
    assert minted["token"].startswith("lt_")
    puller = Api(base, minted["token"])
    manifest = puller.call("GET", f"/api/v1/leases/{lease['id']}/manifest/", expect=200).json()
    assert {a["id"] for a in manifest["assets"]} == set(assets.values())
    assert manifest["manifest_sha256"] == version["manifest_sha256"]
    face = next(a for a in manifest["assets"] if a["id"] == assets["face"])
    redirect = puller.call("GET", urlparse(face["download_url"]).path, expect=302)
    location = redirect.headers["Location"]
    expires = parse_qs(urlparse(location).query).get("X-Amz-Expires")
    if expires:  # S3: the presigned URL lives a minute at most (DOWNLOAD_URL_SECONDS)
        assert int(expires[0]) <= 60
    body = requests.get(location, timeout=30)
    assert body.status_code == 200
    assert hashlib.sha256(body.content).hexdigest() == face["sha256"]

    # Usage: a repeated event_key is counted once.
    run = {
        "event_key": "run-1",
        "kind": "training_run",
        "quantity": 2,
        "occurred_at": timezone.now().isoformat(),
    }
    first = puller.call("POST", f"/api/v1/leases/{lease['id']}/usage/", {"events": [run]}, expect=202).json()
    again = puller.call("POST", f"/api/v1/leases/{lease['id']}/usage/", {"events": [run]}, expect=202).json()
    assert first == {"accepted": 1, "duplicates": 0} and again == {"accepted": 0, "duplicates": 1}

    # Carla withdraws training: the manifest shrinks, her footage is refused, a takedown is issued.
    carla.call("POST", f"/api/v1/consents/{grants[('carla', 'training')]}/withdraw/", expect=200)
    manifest = puller.call("GET", f"/api/v1/leases/{lease['id']}/manifest/", expect=200).json()
    assert {a["id"] for a in manifest["assets"]} == {assets["face"], assets["mocap"]}
    refused = puller.call(
        "GET", f"/api/v1/leases/{lease['id']}/assets/{assets['crowd']}/download/", expect=403
    )
    assert refused.json()["code"] == "not_licensable"
    takedowns = nora.call("GET", f"/api/v1/leases/{lease['id']}/takedowns/", expect=200).json()["results"]
    assert [(t["asset"], t["status"]) for t in takedowns] == [(assets["crowd"], "issued")]

    # Revoking the token refuses it at once.
    nora.call("DELETE", f"/api/v1/leases/{lease['id']}/tokens/{minted['id']}/", expect=204)
    assert (
        puller.call("GET", f"/api/v1/leases/{lease['id']}/manifest/", expect=401).json()["code"]
        == "token_revoked"
    )

    # Close the period that holds all of it, twice.
    start = (timezone.now() - timedelta(hours=1)).isoformat()
    end = timezone.now().isoformat()
    period = admin.call("POST", "/api/v1/periods/", {"start": start, "end": end}, expect=201).json()
    admin.call("POST", f"/api/v1/periods/{period['id']}/close/", expect=202)
    closed = wait_for(
        lambda: admin.call("GET", f"/api/v1/periods/{period['id']}/").json(),
        lambda body: body["status"] == "closed",
    )
    admin.call("POST", f"/api/v1/periods/{period['id']}/close/", expect=202)
    assert admin.call("GET", f"/api/v1/periods/{period['id']}/").json() == closed

    # Worked by hand. R = 10000 flat + 1 download x 100 + 2 runs x 500 = 11100.
    # F = floor(11100 x 10%) = 1110; pool M = 9990 = 0.9 R.
    # Shared (flat + runs) 11000 over the 3 assets licensable at approval; the download to face.
    # face = 0.9 x (100 + 11000/3) = 3390; mocap = crowd = 0.9 x 11000/3 = 3300.
    # alice = 3390/2 + 3300/4 = 2520; bob = 3390/2 + 3300 x 3/4 = 4170; carla = 3300.
    # P&H 5%: alice 126, bob floor(208.5) = 208, carla 165.
    expected = {"alice": (2520 - 126, 126), "bob": (4170 - 208, 208), "carla": (3300 - 165, 165)}
    assert closed["revenue_cents"] == 11_100
    assert closed["admin_fee_cents"] == 1_110
    assert closed["pension_cents"] == 499 and closed["net_cents"] == 9_491
    assert (
        closed["net_cents"] + closed["pension_cents"] + closed["admin_fee_cents"] == closed["revenue_cents"]
    )
    assert closed["ledger_balanced"] is True
    for name, client in (("alice", alice), ("bob", bob), ("carla", carla)):
        earnings = client.call("GET", "/api/v1/me/earnings/", expect=200).json()
        net, pension = expected[name]
        assert (earnings["total_net_cents"], earnings["total_pension_cents"]) == (net, pension), name
        assert earnings["periods"][0]["leases"][0]["studio"] == "Northlight"

    # Who used my data: the lease, what it was for, downloads of my assets, what it earned me.
    used = alice.call("GET", "/api/v1/me/leases/", expect=200).json()["results"]
    assert [(u["studio"], u["purpose"], u["downloads_of_my_assets"], u["net_cents"]) for u in used] == [
        ("Northlight", "crowd model", 1, expected["alice"][0])
    ]
    assert (
        carla.call("GET", "/api/v1/me/leases/", expect=200).json()["results"][0]["downloads_of_my_assets"]
        == 0
    )

    # The public register shows the lease without naming members who did not opt in.
    register = Api(base).call("GET", "/api/v1/transparency/leases/", expect=200).json()["results"]
    assert register[0]["studio"] == "Northlight" and register[0]["member_count"] == 3
    assert register[0]["listed_members"] == []


@pytest.mark.integration
def test_the_whole_story_on_the_real_stack(real_stack):
    story(real_stack)


@pytest.mark.embedded
def test_the_whole_story_on_the_embedded_default(embedded_stack):
    story(embedded_stack)
