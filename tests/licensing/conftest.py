from dataclasses import dataclass

import pytest

from licensing import services as licensing
from tests.factories import grant_all, make_asset
from trust import services as trust


@dataclass
class World:
    """The cast plus data: Alice's and Bob's assets in a frozen dataset, terms, an active lease
    for each studio, and a lease token for each lease."""

    cast: object
    alice_asset: object
    bob_asset: object
    dataset: object
    terms: object
    lease_a: object
    lease_b: object
    token_a: object
    secret_a: str
    secret_b: str


@pytest.fixture
def world(cast) -> World:
    grant_all(cast.alice, "training")
    grant_all(cast.bob, "training")
    alice_asset = make_asset(admin=cast.admin, contributors=[(cast.alice, "1")], data=b"alice scan")
    bob_asset = make_asset(
        admin=cast.admin, contributors=[(cast.bob, "0.4"), (cast.alice, "0.6")], data=b"bob and alice scan"
    )
    dataset = trust.dataset_create(actor=cast.admin, slug="world", title="World")
    trust.dataset_add_assets(actor=cast.admin, dataset=dataset, asset_ids=[alice_asset.pk, bob_asset.pk])
    trust.dataset_freeze(actor=cast.admin, dataset=dataset)
    terms = licensing.terms_create(
        actor=cast.admin,
        dataset=dataset,
        title="Training",
        permitted_uses=["training"],
        duration_days=30,
        flat_fee_cents=1000,
        price_per_download_cents=10,
        price_per_training_run_cents=100,
    )
    lease_a = licensing.lease_approve(
        actor=cast.admin, lease=licensing.lease_request(actor=cast.carol, terms=terms, purpose="A's model")
    )
    lease_b = licensing.lease_approve(
        actor=cast.admin, lease=licensing.lease_request(actor=cast.dave, terms=terms, purpose="B's model")
    )
    token_a, secret_a = licensing.token_mint(actor=cast.carol, lease=lease_a, name="a-farm")
    _, secret_b = licensing.token_mint(actor=cast.dave, lease=lease_b, name="b-farm")
    return World(cast, alice_asset, bob_asset, dataset, terms, lease_a, lease_b, token_a, secret_a, secret_b)
