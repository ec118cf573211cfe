"""C2PA provenance for media delivered under a lease: a sidecar manifest (`.c2pa`) per (lease,
asset), signed by the trust with c2pa-python, hard-bound to the asset's bytes by their hash.

One stored object serves every lease, so the per-lease statement cannot be baked into it: the
sidecar travels beside the object instead, and the gateway's download path stays untouched.
What the manifest says (`manifest_definition`): who the asset is held for (member numbers, a
name only for a member listed publicly), the consent uses every contributor holds now, and the
CAWG training-and-data-mining assertion constraining every AI use to the named lease.

The trust's certificate chain and key come from C2PA_SIGNING_CERT / C2PA_SIGNING_KEY (PEM
files). On the embedded default, with neither set, a local chain is generated once under
var/c2pa/, its names saying it is not trusted by anyone (`local_chain`)."""

import datetime
import hashlib
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from licensing.models import Lease
from licensing.selectors import downloadable_asset, require_live
from licensing.tokens import lease_of_token
from trust.consent import Use, active_grants, in_use_order
from trust.errors import Conflict, ServiceUnavailable
from trust.models import Asset, AssetContributor
from trust.storage import download_filename, get_object_store

# The CAWG training-and-data-mining entries (CAWG "Training and Data Mining Assertion" 1.1).
CAWG_TRAINING_MINING = "cawg.training-mining"
CAWG_ENTRIES = ("cawg.ai_generative_training", "cawg.ai_training", "cawg.data_mining", "cawg.ai_inference")
# The trust's own assertion: custom labels are reverse-domain names (C2PA 2.x, "Labels").
HOLDING_ASSERTION = "org.guildtrust.holding"
SIDECAR_MEDIA_TYPE = "application/c2pa"
MEDIA_PREFIXES = ("image/", "audio/", "video/")
# Up to this many bytes of an asset are hashed in memory; a larger one (video) spills to disk.
SPOOL_BYTES = 16 * 1024**2
LOCAL_CHAIN_ORGANISATION = "Guildtrust local development chain - NOT TRUSTED"


@dataclass(frozen=True)
class SigningCredentials:
    chain_pem: bytes
    key_pem: bytes
    algorithm: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.chain_pem).hexdigest()


@dataclass(frozen=True)
class Sidecar:
    filename: str
    manifest: bytes


# --- Certificates ----------------------------------------------------------------------------


def write_certificate_chain(directory: Path, *, organisation: str, days: int = 3650) -> dict[str, Path]:
    """A root CA and an ES256 signing certificate issued by it, as c2pa requires of a signer
    (not self-signed, digitalSignature, the emailProtection extended key usage), written as
    `chain.pem` (signing certificate, then root), `signing.key` (PKCS#8) and `root.pem` (the
    anchor a reader would have to trust). The test suite and the embedded default use it; a
    trust in production installs a chain from a CA on the C2PA trust list instead (README)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )

    def usage(*, signing: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=signing,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=not signing,
            crl_sign=not signing,
            encipher_only=False,
            decipher_only=False,
        )

    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(name(f"{settings.TRUST_SLUG} C2PA root"))
        .issuer_name(name(f"{settings.TRUST_SLUG} C2PA root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    signing = (
        x509.CertificateBuilder()
        .subject_name(name(f"{settings.TRUST_SLUG} C2PA signer"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days - 1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = {
        "chain": directory / "chain.pem",
        "key": directory / "signing.key",
        "root": directory / "root.pem",
    }
    directory.mkdir(parents=True, exist_ok=True)
    paths["chain"].write_bytes(signing.public_bytes(pem) + root.public_bytes(pem))
    paths["root"].write_bytes(root.public_bytes(pem))
    paths["key"].touch(mode=0o600)
    paths["key"].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def local_chain() -> dict[str, Path]:
    """The embedded default's chain under var/c2pa/, generated on first use. Made in a scratch
    directory and renamed into place, so two processes starting at once never pair one's
    certificate with the other's key."""
    directory = settings.VAR_DIR / "c2pa"
    if not (directory / "chain.pem").exists():
        scratch = Path(tempfile.mkdtemp(prefix="c2pa-", dir=settings.VAR_DIR))
        write_certificate_chain(scratch, organisation=LOCAL_CHAIN_ORGANISATION)
        try:
            os.rename(scratch, directory)
        except OSError:  # another process won: keep its chain
            shutil.rmtree(scratch, ignore_errors=True)
    return {
        "chain": directory / "chain.pem",
        "key": directory / "signing.key",
        "root": directory / "root.pem",
    }


def signing_credentials() -> SigningCredentials:
    """The trust's chain and key: from the settings, or the embedded default's local chain.
    503 outside the embedded default when none is configured (nothing is signed with a key the
    trust did not choose)."""
    cert, key = settings.C2PA_SIGNING_CERT, settings.C2PA_SIGNING_KEY
    if not (cert and key):
        if not settings.EMBEDDED_DEFAULT:
            raise ServiceUnavailable(
                "this trust has no C2PA signing certificate configured (C2PA_SIGNING_CERT, C2PA_SIGNING_KEY)",
                code="c2pa_not_configured",
            )
        paths = local_chain()
        cert, key = paths["chain"], paths["key"]
    return SigningCredentials(
        chain_pem=Path(cert).read_bytes(),
        key_pem=Path(key).read_bytes(),
        algorithm=settings.C2PA_SIGNING_ALG,
    )


# --- What the manifest says -------------------------------------------------------------------


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _uses_granted_by_every_contributor(asset_id, *, at) -> list[str]:
    """The consent uses every accepted contributor of the asset holds an active grant for at
    `at`, on this asset or on all their assets: one query over every use."""
    contributors = AssetContributor.objects.accepted().filter(asset_id=asset_id)
    held = (
        active_grants(use=Use.values, at=at)
        .filter(Q(asset__isnull=True) | Q(asset_id=asset_id))
        .filter(Exists(contributors.filter(member=OuterRef("member"))))
        .values_list("use", "member_id")
        .distinct()
    )
    members_by_use: dict[str, set] = {}
    for use, member_id in held:
        members_by_use.setdefault(use, set()).add(member_id)
    everyone = set(contributors.values_list("member_id", flat=True))
    return in_use_order(use for use, members in members_by_use.items() if everyone and members >= everyone)


def _held_for(asset_id) -> list[dict]:
    """Each contributor by member number and share; a name only for a member listed publicly."""
    rows = (
        AssetContributor.objects.accepted()
        .filter(asset_id=asset_id)
        .order_by("member__member_number")
        .values_list("member__member_number", "share", "member__listed_publicly", "member__display_name")
    )
    return [
        {"member_number": number, "share": str(share)} | ({"name": name} if listed else {})
        for number, share, listed, name in rows
    ]


def _absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def _lease_constraint(lease: Lease, agreement: str) -> str:
    ends = lease.ends_at.isoformat() if lease.ends_at else "its end"
    return (
        f"Only under {settings.TRUST_SLUG} lease {lease.pk} to {lease.studio.name} "
        f"(dataset {lease.version.dataset.slug} version {lease.version.number}), for "
        f"{', '.join(in_use_order(lease.permitted_uses))}, until {ends}; terms: {agreement}. "
        "Any other use needs the members' consent through the trust."
    )


def manifest_definition(*, lease: Lease, asset: dict, at) -> dict:
    """The manifest c2pa-python signs for `asset` (a row of id, kind, title, content_type,
    sha256) delivered under `lease`. Holds no timestamp of its own, so the same facts give the
    same definition (the cache key); the signature carries the signing time."""
    agreement = _absolute(reverse("api-lease-odrl", kwargs={"lease_id": lease.pk}))
    constraint = _lease_constraint(lease, agreement)
    media_type = _media_type(asset["content_type"])
    return {
        "claim_generator_info": [{"name": "guildtrust", "version": "0.1.0"}],
        "title": download_filename(title=asset["title"], content_type=media_type, fallback=str(asset["id"])),
        "format": media_type,
        "assertions": [
            {
                "label": CAWG_TRAINING_MINING,
                "data": {
                    "entries": {
                        entry: {"use": "constrained", "constraint_info": constraint} for entry in CAWG_ENTRIES
                    }
                },
            },
            {
                "label": HOLDING_ASSERTION,
                "data": {
                    "trust": settings.TRUST_SLUG,
                    "trust_url": _absolute("/"),
                    "asset": {
                        "id": str(asset["id"]),
                        "kind": asset["kind"],
                        "sha256": asset["sha256"],
                    },
                    "held_for": _held_for(asset["id"]),
                    "consent_uses_granted": _uses_granted_by_every_contributor(asset["id"], at=at),
                    "lease": {
                        "id": lease.pk,
                        "studio": lease.studio.name,
                        "dataset": lease.version.dataset.slug,
                        "version": lease.version.number,
                        "permitted_uses": in_use_order(lease.permitted_uses),
                        "starts_at": lease.starts_at.isoformat() if lease.starts_at else None,
                        "ends_at": lease.ends_at.isoformat() if lease.ends_at else None,
                        "agreement": agreement,
                    },
                },
            },
        ],
    }


# --- Signing ----------------------------------------------------------------------------------


@contextmanager
def _spooled_object(asset: dict):
    """The stored object's bytes in a seekable file, checked against the SHA-256 recorded at
    verification: what is signed is what the gateway serves."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        digest = hashlib.sha256()
        for chunk in get_object_store().iter_chunks(asset["object_key"]):
            digest.update(chunk)
            spool.write(chunk)
        if digest.hexdigest() != asset["sha256"]:
            raise Conflict(
                "the stored object no longer matches the hash recorded for this asset",
                code="asset_bytes_changed",
            )
        spool.seek(0)
        yield spool


def sign_sidecar(*, definition: dict, source, credentials: SigningCredentials) -> bytes:
    """The manifest store (JUMBF bytes) for `definition`, hard-bound to `source`'s bytes by a
    data hash, not embedded: the asset is delivered as stored. No thumbnails: the manifest never
    carries a copy of a member's face or voice. The trust "opened" the asset (it is the parent
    ingredient) and published it to the lease."""
    import c2pa

    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(
            credentials.algorithm,
            credentials.chain_pem,
            credentials.key_pem,
            settings.C2PA_TSA_URL or None,
        )
    )
    with c2pa.Builder(json.dumps(definition), context=context) as builder:
        builder.set_no_embed()
        builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
        lease = definition["assertions"][1]["data"]["lease"]
        builder.add_action(
            {"action": "c2pa.published", "description": f"delivered under lease {lease['id']}"}
        )
        try:
            return builder.sign(signer, definition["format"], source, io.BytesIO())
        except c2pa.C2paError.Signature as error:
            # The trust's certificate or key, not the asset: a key not matching the certificate,
            # a self-signed or otherwise unacceptable certificate.
            raise ServiceUnavailable(
                f"the trust's C2PA certificate and key cannot sign: {error}", code="c2pa_signing_failed"
            ) from None
        except c2pa.C2paError as error:
            raise Conflict(
                f"this asset's bytes cannot carry a C2PA manifest as {definition['format']}: {error}",
                code="c2pa_unsupported_media",
            ) from None
        finally:
            signer.close()


def supported_media_types() -> set[str]:
    import c2pa

    return {value for value in c2pa.Builder.get_supported_mime_types() if "/" in value}


def lease_asset_sidecar(*, token, lease_id, asset_id) -> Sidecar:
    """The signed `.c2pa` sidecar of one media asset delivered under the token's lease. Refused
    as the gateway refuses (another lease 404, a revoked or ended lease 410, an asset whose
    consent no longer covers the lease 403, one the version does not hold 404); 409 for an asset
    that is not media C2PA can bind (a script, motion-capture data, an unknown format). Records
    no usage. Cached under a hash of everything it states and the signing certificate, so a
    change of consent, contributors or certificate signs afresh; the asset's bytes are read from
    storage only on a miss."""
    lease = lease_of_token(token=token, lease_id=lease_id)
    now = timezone.now()
    require_live(lease, at=now)
    downloadable_asset(lease, asset_id)  # the gateway's refusals, in its words
    asset = Asset.objects.values("id", "kind", "title", "content_type", "sha256", "object_key").get(
        pk=asset_id
    )
    media_type = _media_type(asset["content_type"])
    if not media_type.startswith(MEDIA_PREFIXES) or media_type not in supported_media_types():
        raise Conflict(
            f"C2PA provenance covers images, audio and video in formats it can bind; this asset is "
            f"{asset['kind']} ({media_type})",
            code="c2pa_unsupported_media",
        )
    lease = Lease.objects.select_related("studio", "version__dataset").get(pk=lease.pk)
    definition = manifest_definition(lease=lease, asset=asset, at=now)
    credentials = signing_credentials()
    facts = json.dumps([definition, asset["sha256"], credentials.fingerprint], sort_keys=True)
    key = "c2pa-sidecar:" + hashlib.sha256(facts.encode()).hexdigest()
    manifest = cache.get(key)
    if manifest is None:
        with _spooled_object(asset) as source:
            manifest = sign_sidecar(definition=definition, source=source, credentials=credentials)
        cache.set(key, manifest, timeout=settings.C2PA_CACHE_SECONDS)
    filename = definition["title"].rsplit(".", 1)[0] + ".c2pa"
    return Sidecar(filename=filename, manifest=manifest)
