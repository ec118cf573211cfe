"""Consent receipts: every grant, refusal and withdrawal, as a record with the fields of an
ISO/IEC TS 27560 consent record, signed by the trust's current Ed25519 key.

A receipt is built from the Consent row alone (with its text, member and actor), so nothing is
stored for it: asking twice gives the same receipt, and the same signature while the key is
the same (Ed25519 signatures are deterministic). The signature is a compact JWS (RFC 7515,
`alg` EdDSA, `kid` the key's name in /.well-known/guildtrust.json) whose payload is the receipt
itself; a verifier checks the JWS with the published key and that its payload equals the
receipt shown. The controller's name and address and the jurisdiction come from settings
(TRUST_NAME, TRUST_SLUG, PUBLIC_BASE_URL, TRUST_JURISDICTION)."""

from datetime import UTC, datetime

import jwt
from django.conf import settings

from . import keys
from .consent import use_label
from .models import AssetContributor, AssetDestruction, Authority, Consent
from .pdf import TrustPDF

SCHEMA = "guildtrust.consent-receipt.v1"
MEDIA_TYPE = "consent-receipt+jws"


def _instant(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def decisions_with_receipt_data():
    """Consent rows with everything a receipt reads, in one query."""
    return Consent.objects.select_related(
        "member__user", "text", "actor", "supersedes", "reconfirms", "asset"
    )


def receipt_of(consent: Consent) -> dict:
    """The receipt's fields, in a fixed order, from the row (see the module docstring)."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    text = consent.text
    acting_for_subject = consent.actor_id != consent.member.user_id
    return {
        "schema": SCHEMA,
        "record_id": f"{settings.TRUST_SLUG}:consent:{consent.pk}",
        "controller": {"name": settings.TRUST_NAME, "slug": settings.TRUST_SLUG, "url": base},
        "subject": {"member_number": consent.member.member_number},
        "state": consent.state,
        "purposes": [
            {
                "use": consent.use,
                "label": use_label(consent.use),
                "scope": {"asset": str(consent.asset_id)} if consent.asset_id else "all_assets",
                # A grant's quota (README: Quotas by consent category); absent when uncapped.
                **(
                    {"cap": {"quantity": consent.cap_quantity, "per": consent.cap_per}}
                    if consent.cap_quantity
                    else {}
                ),
                "text": {
                    "version": text.version,
                    "language": text.language,
                    "terms_version": text.terms_version,
                    "effective_at": _instant(text.effective_at),
                    "sha256": text.sha256,
                    "content": text.text,
                },
            }
        ],
        "notice_sha256": consent.consent_text_sha256,
        "method": {
            "channel": consent.channel,
            "description": Consent.Channel(consent.channel).label,
            "actor": consent.actor.get_username(),
            "acting_for_subject": acting_for_subject,
            # In whose right the actor decided: the member, or after their death their estate
            # representative or the union.
            "authority": consent.authority,
            "authority_description": Authority(consent.authority).label,
        },
        "jurisdiction": settings.TRUST_JURISDICTION,
        "timestamps": {
            "recorded_at": _instant(consent.created_at),
            "withdraws_grant_recorded_at": _instant(consent.supersedes.created_at)
            if consent.supersedes_id
            else None,
        },
        "links": {
            "withdraws": consent.supersedes_id,
            "reconfirms": consent.reconfirms_id,
        },
    }


def signed_receipt(consent: Consent) -> dict:
    """What the API answers: the receipt, its JWS, and the key that signed it."""
    return _signed(receipt_of(consent), media_type=MEDIA_TYPE)


def _signed(receipt: dict, *, media_type: str) -> dict:
    """`receipt` with its compact JWS (the receipt is the payload) and the signing key's name."""
    key = keys.current_key()
    jws = jwt.encode(receipt, key.private, algorithm="EdDSA", headers={"kid": key.kid, "typ": media_type})
    return {
        "receipt": receipt,
        "jws": jws,
        "signature": {
            "alg": "EdDSA",
            "kid": key.kid,
            "key_fingerprint": key.fingerprint,
            "public_keys_url": settings.PUBLIC_BASE_URL.rstrip("/") + "/.well-known/guildtrust.json",
        },
    }


def verify(document: dict, public_keys: list[dict]) -> bool:
    """Whether `document` (as `signed_receipt` gives it) was signed by one of `public_keys` (the
    well-known document's `public_keys`) and shows exactly what was signed."""
    try:
        kid = jwt.get_unverified_header(document["jws"]).get("kid")
        published = next(entry for entry in public_keys if entry["kid"] == kid)
        payload = jwt.decode(
            document["jws"],
            keys.public_key_object(published["key"]),
            algorithms=["EdDSA"],
            options={"require": [], "verify_aud": False},
        )
    except (StopIteration, KeyError, ValueError, jwt.InvalidTokenError):
        return False
    return payload == document["receipt"]


def filename(document: dict, extension: str) -> str:
    """guildtrust-consent-receipt-42.pdf: safe in a Content-Disposition header."""
    record = document["receipt"]["record_id"].rsplit(":", 1)[-1]
    return f"guildtrust-consent-receipt-{record}.{extension}"


def receipt_pdf(document: dict) -> bytes:
    """The same receipt on A4: its fields, the text the member was shown, then the signature
    (the JWS in full) and the fingerprint of the key that made it."""
    receipt = document["receipt"]
    purpose = receipt["purposes"][0]
    pdf = TrustPDF(f"{receipt['controller']['name']} · consent receipt {receipt['record_id']}")
    text = pdf.text_of
    pdf.set_title(text(f"Consent receipt {receipt['record_id']}"))
    pdf.set_author(text(receipt["controller"]["name"]))
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.add_page()
    pdf.set_font(pdf.base_font, "", 10)
    pdf.cell(0, 6, text(receipt["controller"]["name"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.base_font, "B", 18)
    pdf.cell(0, 11, text(f"Consent receipt: {receipt['state']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    scope = purpose["scope"]
    controller = receipt["controller"]
    fields = (
        ("Record", receipt["record_id"]),
        (
            "Controller",
            f"{controller['name']} ({controller['slug']}), {controller['url']}",
        ),
        ("Subject", f"member {receipt['subject']['member_number']}"),
        ("Decision", receipt["state"]),
        ("Use", f"{purpose['label']} ({purpose['use']})"),
        ("For", "all the member's assets" if scope == "all_assets" else f"asset {scope['asset']}"),
        *(
            [("Cap", f"at most {purpose['cap']['quantity']:,} per {purpose['cap']['per']}")]
            if purpose.get("cap")
            else []
        ),
        (
            "Text",
            f"version {purpose['text']['version']} ({purpose['text']['language']}), "
            f"terms {purpose['text']['terms_version']}",
        ),
        ("Text SHA-256", receipt["notice_sha256"]),
        (
            "Method",
            f"{receipt['method']['description']}, by {receipt['method']['actor']}"
            + (
                f" acting for the member ({receipt['method']['authority_description']})"
                if receipt["method"]["acting_for_subject"]
                else " (the member)"
            ),
        ),
        ("Jurisdiction", receipt["jurisdiction"]),
        ("Recorded at", receipt["timestamps"]["recorded_at"]),
    )
    if receipt["links"]["withdraws"]:
        fields += (
            (
                "Withdraws",
                f"grant {receipt['links']['withdraws']} "
                f"of {receipt['timestamps']['withdraws_grant_recorded_at']}",
            ),
        )
    if receipt["links"]["reconfirms"]:
        fields += (("Re-confirms", f"grant {receipt['links']['reconfirms']}"),)
    for label, value in fields:
        pdf.set_font(pdf.base_font, "B", 10)
        pdf.cell(34, 6, text(label))
        pdf.set_font(pdf.base_font, "", 10)
        pdf.multi_cell(0, 6, text(value), new_x="LMARGIN", new_y="NEXT", wrapmode="CHAR")
    pdf.ln(3)
    pdf.set_font(pdf.base_font, "B", 11)
    pdf.cell(0, 7, text("The text the member was shown"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.base_font, "", 10)
    pdf.multi_cell(0, 5.5, text(purpose["text"]["content"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    signature = document["signature"]
    pdf.set_font(pdf.base_font, "B", 11)
    pdf.cell(0, 7, text("Signature"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.base_font, "", 9)
    pdf.multi_cell(
        0,
        5,
        text(
            f"Signed with the trust's Ed25519 key {signature['kid']} (EdDSA, compact JWS). "
            f"Key fingerprint (SHA-256 of the public key): {signature['key_fingerprint']}. "
            f"Verify it with the key published at {signature['public_keys_url']}."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
        wrapmode="CHAR",
    )
    pdf.ln(2)
    pdf.set_font("Courier", "", 7)
    pdf.multi_cell(0, 3.5, document["jws"], new_x="LMARGIN", new_y="NEXT", wrapmode="CHAR")
    return bytes(pdf.output())


# Destruction certificates: the receipt a member gets when the trust destroyed an asset of
# theirs, signed and verified exactly like a consent receipt (`verify`).
DESTRUCTION_SCHEMA = "guildtrust.destruction-certificate.v1"
DESTRUCTION_MEDIA_TYPE = "destruction-certificate+jws"
# What the trust keeps of a destroyed asset, for royalties already earned and for audit.
KEPT_AFTER_DESTRUCTION = [
    *("id", "kind", "title", "content_type", "size", "sha256", "contributors", "registered_at")
]


def certificate_of(destruction: AssetDestruction) -> dict:
    """The certificate's fields, in a fixed order, from the destruction row and its asset."""
    asset = destruction.asset
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    contributors = (
        AssetContributor.objects.filter(asset=asset)
        .exclude(status=AssetContributor.Status.DECLINED)
        .order_by("member__member_number")
        .values_list("member__member_number", flat=True)
    )
    withdrawal = destruction.withdrawal
    return {
        "schema": DESTRUCTION_SCHEMA,
        "record_id": f"{settings.TRUST_SLUG}:destruction:{destruction.pk}",
        "controller": {"name": settings.TRUST_NAME, "slug": settings.TRUST_SLUG, "url": base},
        "subjects": [{"member_number": number} for number in contributors],
        "asset": {
            "id": str(asset.pk),
            "kind": asset.kind,
            "sha256": asset.sha256,
            "size": asset.size,
            "registered_at": _instant(asset.created_at),
        },
        "reason": destruction.reason,
        "reason_description": AssetDestruction.Reason(destruction.reason).label,
        "grounds": {
            "capture_withdrawal": withdrawal.pk if withdrawal else None,
            "capture_withdrawn_at": _instant(withdrawal.created_at) if withdrawal else None,
            "retention_days": destruction.retention_days,
        },
        "removed": destruction.removed,
        "verification": destruction.verification,
        "kept": KEPT_AFTER_DESTRUCTION,
        "jurisdiction": settings.TRUST_JURISDICTION,
        "timestamps": {
            "started_at": _instant(destruction.started_at),
            "destroyed_at": _instant(destruction.destroyed_at),
        },
    }


def signed_certificate(destruction: AssetDestruction) -> dict:
    return _signed(certificate_of(destruction), media_type=DESTRUCTION_MEDIA_TYPE)
