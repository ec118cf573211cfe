"""C2PA sidecars (licensing/provenance.py), in process against the suite's S3 server: the first
request of a (lease, asset) reads the object and signs, later ones come from the cache. Each is
set against the gateway's download call for the same asset in the same run (the baseline: a
lease-token request that answers without reading the object). Run with `make bench`."""

import statistics
import time

import pytest

from tests.conftest import bearer_client
from tests.licensing import test_c2pa_provenance as provenance_tests
from tests.licensing.test_c2pa_provenance import sidecar, store_as, wav_bytes

# The provenance tests' fixtures (the suite's signing chain, a PNG and a WAV asset on S3).
media, signing, test_chain = provenance_tests.media, provenance_tests.signing, provenance_tests.test_chain

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db]
RUNS = 5


def _seconds(call) -> float:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def test_sidecar_signing_and_cache_against_the_gateway(media):  # noqa: F811
    from django.core.cache import cache

    client = bearer_client(media.secret_a)
    download = f"/api/v1/leases/{media.lease_a.pk}/assets/{media.bob_asset.pk}/download/"
    rows = []
    for mib in (1, 32):
        store_as(media.bob_asset, wav_bytes(frames=mib * 1024 * 512), content_type="audio/wav", title="Line")

        def signed():
            cache.clear()
            assert sidecar(media, media.bob_asset).status_code == 200

        def cached():
            assert sidecar(media, media.bob_asset).status_code == 200

        baseline = _seconds(lambda: client.get(download))  # noqa: B023
        miss, hit = _seconds(signed), _seconds(cached)
        rows.append(
            f"| C2PA sidecar of a {mib} MiB WAV (median of {RUNS}) | signed {miss * 1000:.0f} ms, "
            f"cached {hit * 1000:.1f} ms | gateway download {baseline * 1000:.1f} ms "
            f"| {miss / baseline:.1f}x, {hit / baseline:.2f}x |"
        )
    print("\n" + "\n".join(rows))
