"""Every write of the trust app: one function per business action, each in a transaction,
each writing its audit event alongside the change."""

import hashlib
import math
import re
import uuid
from decimal import Decimal, InvalidOperation

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from . import audit
from .consent import (
    DEFAULT_LANGUAGE,
    CapPer,
    active_grants,
    current_text,
    is_first_opt_in,
    is_use,
    standing_refusals,
)
from .errors import Conflict, Forbidden, Invalid, NotFound
from .models import (
    Asset,
    AssetContributor,
    Authority,
    Consent,
    ConsentAuthority,
    ConsentText,
    Dataset,
    DatasetItem,
    DatasetVersion,
    DatasetVersionItem,
    EstateRepresentative,
    Member,
    MemberDeath,
)
from .queue import enqueue_on_commit
from .selectors import authority_in_force, deciding_authority, is_trust_admin, member_of
from .signals import consent_withdrawn, licensability_changed
from .storage import MultipartError, SourceMissing, UploadedPart, get_object_store, measure

log = structlog.get_logger(__name__)

User = get_user_model()
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# A media type as HTTP defines it (RFC 9110 8.3.1): type/subtype, then `; name=value` parameters
# whose value is a token or a quoted string. It is signed into upload URLs and answered as a
# response header, so nothing else (no control character, no newline) may get through.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
MEDIA_TYPE = re.compile(
    rf'^{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|"(?:[\t !#-\[\]-~]|\\[\t -~])*"))*$'
)
MAX_PARTS = 10_000  # the S3 API's limit per multipart upload


def require_trust_admin(actor) -> None:
    """Services that only administrators may call start with this, whoever calls them."""
    if not is_trust_admin(actor):
        raise Forbidden("only a trust administrator may do this", code="admin_only")


def user_create(*, username: str, password: str, email: str = "", is_staff: bool = False) -> User:
    """A login; refuses a taken username or a weak password with a clear message."""
    if User.objects.filter(username=username).exists():
        raise Conflict(f"username {username!r} is taken", code="username_taken")
    user = User(username=username, email=email, is_staff=is_staff)
    try:
        validate_password(password, user)
    except DjangoValidationError as error:
        raise Invalid(" ".join(error.messages), code="weak_password") from error
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def member_enrol(
    *,
    actor,
    username: str,
    password: str,
    email: str,
    member_number: str,
    display_name: str,
    listed_publicly: bool = False,
) -> Member:
    """Create a member and their login. Administrators only."""
    require_trust_admin(actor)
    if Member.objects.filter(member_number=member_number).exists():
        raise Conflict(f"member number {member_number} is taken", code="member_number_taken")
    user = user_create(username=username, password=password, email=email)
    member = Member.objects.create(
        user=user,
        member_number=member_number,
        display_name=display_name,
        listed_publicly=listed_publicly,
    )
    audit.record(actor=actor, action="member.enrolled", subject=member, data={"member_number": member_number})
    return member


@transaction.atomic
def member_update(*, actor, member: Member, display_name: str, listed_publicly: bool) -> Member:
    """An administrator corrects a member's name or their choice to be named on the public
    register; the audit event keeps what it was before."""
    require_trust_admin(actor)
    display_name = display_name.strip()
    if not display_name:
        raise Invalid("a member needs a display name", code="display_name_required")
    before = Member.objects.select_for_update().get(pk=member.pk)
    changed = {
        field: {"from": getattr(before, field), "to": value}
        for field, value in (("display_name", display_name), ("listed_publicly", listed_publicly))
        if getattr(before, field) != value
    }
    if not changed:
        return before
    member.display_name, member.listed_publicly = display_name, listed_publicly
    member.save(update_fields=list(changed))
    audit.record(actor=actor, action="member.updated", subject=member, data=changed)
    return member


@transaction.atomic
def member_set_bank_account(
    *,
    actor,
    member: Member,
    iban: str = "",
    bic: str = "",
    account_name: str = "",
    account_number: str = "",
    current_password: str | None = None,
) -> Member:
    """Where the member's royalties go. The member, who must give their current password again
    (a stolen session or API token alone cannot redirect their money), or an administrator. An
    IBAN is checked (country format and check digits) and a BIC is looked up from it where one
    is known; a bank without IBANs is given as an account number with its BIC (paid by a
    non-SEPA transfer). Nothing changes when any check fails; the audit event never holds the
    full account number."""
    is_self = member.user_id == getattr(actor, "pk", None)
    if not is_self and not is_trust_admin(actor):
        raise Forbidden("only the member or an administrator can set bank details", code="not_your_account")
    if is_self and not (current_password and actor.check_password(current_password)):
        raise Forbidden(
            "your current password is needed to change your bank details, and the one given is not it",
            code="wrong_password",
        )
    number = re.sub(r"[\s-]", "", account_number).upper()
    if bool(iban.strip()) == bool(number):
        raise Invalid(
            "give either an IBAN or an account number with its BIC, not both", code="bad_bank_account"
        )
    try:
        if number:
            if not re.fullmatch(r"[A-Z0-9]{4,34}", number):
                raise Invalid("an account number is 4 to 34 letters and digits", code="bad_bank_account")
            if not bic:
                raise Invalid("an account without an IBAN needs its bank's BIC", code="bad_bank_account")
            bank_bic, compact_iban, country = BIC(bic), "", None
        else:
            parsed = IBAN(iban)
            bank_bic, compact_iban, country = (
                (BIC(bic) if bic else parsed.bic),
                parsed.compact,
                parsed.country_code,
            )
    except SchwiftyException as error:
        raise Invalid(f"not a valid bank account: {error}", code="bad_bank_account") from error
    on_file = member.payout_iban or member.payout_account_number
    previous_ends = on_file[-4:] if on_file else None
    member.payout_iban = compact_iban
    member.payout_account_number = number
    member.payout_bic = str(bank_bic.compact) if bank_bic else ""
    member.payout_account_name = (account_name or member.display_name)[:140]
    member.save(update_fields=["payout_iban", "payout_account_number", "payout_bic", "payout_account_name"])
    # The audit log is readable by administrators: keep the account number itself out of it.
    audit.record(
        actor=actor,
        action="member.bank_account_set",
        subject=member,
        data={
            "iban_ends": (compact_iban or number)[-4:],
            "country": country or (bank_bic.country_code if bank_bic else None),
            "previous_ends": previous_ends,
        },
    )
    return member


def _parse_shares(contributors: list[dict]) -> list[tuple[Member, Decimal]]:
    if not contributors:
        raise Invalid("an asset needs at least one contributor", code="no_contributors")
    parsed, seen = [], set()
    for entry in contributors:
        try:
            share = Decimal(str(entry["share"]))
        except (InvalidOperation, KeyError) as error:
            raise Invalid('each share must be a decimal string such as "0.5"', code="bad_share") from error
        if not share.is_finite() or share <= 0 or share > 1 or share.as_tuple().exponent < -6:
            raise Invalid("each share must be above 0, at most 1, with at most 6 decimals", code="bad_share")
        member = Member.objects.filter(pk=entry.get("member")).first()
        if member is None:
            raise Invalid(f"no member {entry.get('member')}", code="unknown_member")
        if member.pk in seen:
            raise Invalid("a member appears twice among the contributors", code="duplicate_contributor")
        seen.add(member.pk)
        parsed.append((member, share))
    if sum(share for _, share in parsed) != Decimal(1):
        raise Invalid("contributor shares must sum to exactly 1", code="shares_not_one")
    return parsed


@transaction.atomic
def asset_create(
    *, actor, kind: str, title: str, content_type: str, size: int, sha256: str, contributors: list[dict]
) -> tuple[Asset, dict]:
    """Register an asset and return where to PUT its bytes. An administrator may register any
    asset, and the trust's shares are accepted as made; a member only one they contribute to,
    and the other members they name must each accept (`contribution_decide`) before the asset
    counts for them or can be licensed."""
    sha256 = sha256.lower()
    if not SHA256_HEX.match(sha256):
        raise Invalid("sha256 must be 64 hexadecimal characters", code="bad_sha256")
    if size < 0:
        raise Invalid("size must not be negative", code="bad_size")
    if not MEDIA_TYPE.fullmatch(content_type):
        raise Invalid(
            "content_type must be a media type such as image/png or audio/wav; charset=utf-8",
            code="bad_content_type",
        )
    shares = _parse_shares(contributors)
    registrant = None
    if not is_trust_admin(actor):
        registrant = member_of(actor)
        if registrant is None or registrant.pk not in {m.pk for m, _ in shares}:
            raise Forbidden("members may only register assets they contribute to", code="not_a_contributor")
    asset_id = uuid.uuid4()
    asset = Asset.objects.create(
        id=asset_id,
        kind=kind,
        title=title,
        content_type=content_type,
        size=size,
        sha256=sha256,
        object_key=f"assets/{asset_id}",
        created_by=actor,
    )
    now = timezone.now()
    rows = []
    for m, s in shares:
        accepted = registrant is None or m.pk == registrant.pk
        rows.append(
            AssetContributor(
                asset=asset,
                member=m,
                share=s,
                status=AssetContributor.Status.ACCEPTED if accepted else AssetContributor.Status.PENDING,
                decided_at=now if accepted else None,
            )
        )
    AssetContributor.objects.bulk_create(rows)
    audit.record(
        actor=actor,
        action="asset.registered",
        subject=asset,
        data={
            "kind": kind,
            "sha256": sha256,
            "size": size,
            "contributors": {m.member_number: str(s) for m, s in shares},
            "awaiting_acceptance": sorted(
                row.member.member_number for row in rows if row.status == AssetContributor.Status.PENDING
            ),
        },
    )
    return asset, asset_upload_plan(asset=asset)


@transaction.atomic
def contribution_decide(*, actor, contribution: AssetContributor, accept: bool) -> AssetContributor:
    """The named member accepts or declines their share of an asset someone else registered.
    Only that member, and only once: an accepted share counts for them (consent, earnings) and,
    once every named contributor has accepted, lets the asset be licensed; a declined one never
    does, so the asset stays unlicensable. Audited either way."""
    contribution = (
        AssetContributor.objects.select_for_update().select_related("member").get(pk=contribution.pk)
    )
    if contribution.member.user_id != getattr(actor, "pk", None):
        raise NotFound("no such contributor request", code="contribution_not_found")
    if contribution.status != AssetContributor.Status.PENDING:
        raise Conflict(f"this request was already {contribution.status}", code="contribution_already_decided")
    contribution.status = AssetContributor.Status.ACCEPTED if accept else AssetContributor.Status.DECLINED
    contribution.decided_at = timezone.now()
    contribution.save(update_fields=["status", "decided_at"])
    audit.record(
        actor=actor,
        action=f"contribution.{contribution.status}",
        subject=contribution,
        data={
            "asset": str(contribution.asset_id),
            "member": contribution.member.member_number,
            "share": str(contribution.share),
        },
    )
    # An answer is an input of the licensability rule: the precomputed set follows it.
    licensability_changed.send(
        sender=AssetContributor, assets=Asset.objects.filter(pk=contribution.asset_id).values("pk")
    )
    return contribution


def asset_upload_plan(*, asset: Asset) -> dict:
    """Where the uploader sends the bytes: one presigned PUT, or for large files a multipart
    upload with one presigned URL per part. Bytes never pass through Django."""
    store = get_object_store()
    expires_in = settings.UPLOAD_URL_SECONDS
    if asset.size <= settings.MULTIPART_THRESHOLD_BYTES:
        target = store.presigned_put(
            asset.staging_key, content_type=asset.content_type, expires_in=expires_in
        )
        return {"method": target.method, "url": target.url, "headers": target.headers}
    part_size = max(settings.MULTIPART_PART_BYTES, math.ceil(asset.size / MAX_PARTS))
    upload_id = store.start_multipart(asset.staging_key, content_type=asset.content_type)
    Asset.objects.filter(pk=asset.pk).update(upload_id=upload_id)
    asset.upload_id = upload_id
    parts = [
        {
            "part_number": n,
            "url": store.presigned_part(
                asset.staging_key, upload_id=upload_id, part_number=n, expires_in=expires_in
            ),
        }
        for n in range(1, math.ceil(asset.size / part_size) + 1)
    ]
    return {
        "method": "multipart",
        "url": None,
        "headers": {},
        "upload_id": upload_id,
        "part_size": part_size,
        "parts": parts,
    }


def asset_upload_bytes(*, actor, asset: Asset, data: bytes) -> Asset:
    """Upload bytes held in memory (the demo seed, a script) the way a client's upload goes: to
    the asset's staging key, then `asset_complete`, whose verification copies them to the final
    key. Only the uploader or an administrator, and only while the asset waits for its bytes
    (pending, or failed and being uploaded again): verified bytes never change."""
    if not is_trust_admin(actor) and asset.created_by_id != getattr(actor, "pk", None):
        raise Forbidden("only the uploader or an administrator can upload", code="not_the_uploader")
    current = Asset.objects.get(pk=asset.pk)
    if current.status not in (Asset.Status.PENDING, Asset.Status.FAILED) or current.upload_id:
        raise Conflict(
            "this asset's upload is completed or multipart; its bytes are not written here",
            code="upload_completed",
        )
    get_object_store().put_bytes(current.staging_key, data, content_type=current.content_type)
    return asset_complete(actor=actor, asset=current)


def asset_complete(*, actor, asset: Asset, parts: list[dict] | None = None) -> Asset:
    """The uploader says the bytes are in place: join a multipart upload's parts (their
    numbers and ETags), then queue verification. Only the uploader or an administrator may
    complete an upload. Safe to call again."""
    from .tasks import verify_asset_upload

    if not is_trust_admin(actor) and asset.created_by_id != getattr(actor, "pk", None):
        raise Forbidden(
            "only the uploader or an administrator can complete an upload", code="not_the_uploader"
        )
    # Verification reads the store: with it unreachable the asset stays as it was (503).
    get_object_store().require_reachable(asset.staging_key)
    with transaction.atomic():
        asset = Asset.objects.select_for_update().get(pk=asset.pk)
        if asset.status == Asset.Status.AVAILABLE:
            return asset
        if asset.status in (Asset.Status.DESTROYING, Asset.Status.DESTROYED):
            raise Conflict("this asset was destroyed; it takes no bytes again", code="asset_destroyed")
        if asset.upload_id:
            if not parts:
                raise Invalid(
                    "a multipart upload completes with its parts' numbers and ETags", code="parts_required"
                )
            uploaded = [UploadedPart(number=p["part_number"], etag=p["etag"]) for p in parts]
            try:
                get_object_store().complete_multipart(
                    asset.staging_key, upload_id=asset.upload_id, parts=uploaded
                )
            except MultipartError as error:
                raise Invalid(
                    f"the parts do not make a complete upload: {error}", code="bad_parts"
                ) from error
            asset.upload_id = ""
        asset.status = Asset.Status.VERIFYING
        asset.failure_reason = ""
        asset.save(update_fields=["status", "failure_reason", "upload_id"])
        enqueue_on_commit(verify_asset_upload, str(asset.pk))
    return asset


def asset_verify(*, asset_id) -> Asset:
    """Move the uploaded bytes from the staging key to the final key, then compare what the final
    key holds with the declared size and SHA-256. Only a match makes the asset available; a
    mismatch leaves it failed with no final object. The bytes measured are the bytes served: no
    upload URL names the final key, so a later PUT cannot change them. Idempotent, and safe to
    rerun after a crash between the copy and the measurement."""
    asset = Asset.objects.get(pk=asset_id)
    if asset.status != Asset.Status.VERIFYING:
        return asset
    store = get_object_store()
    if store.size(asset.staging_key) is not None:
        try:
            store.copy(asset.staging_key, asset.object_key)
        except SourceMissing:
            # Another verification of the same upload (the task beside a client's retry, or
            # a redelivery) moved the bytes between the two calls: measure what it moved.
            pass
        else:
            store.delete(asset.staging_key)
    stored = measure(store, asset.object_key)
    if stored is None:
        outcome, reason = Asset.Status.FAILED, "no object was uploaded"
    elif stored.size != asset.size:
        outcome, reason = Asset.Status.FAILED, f"size {stored.size} does not match declared {asset.size}"
    elif stored.sha256 != asset.sha256:
        outcome, reason = Asset.Status.FAILED, "SHA-256 does not match the declared hash"
    else:
        outcome, reason = Asset.Status.AVAILABLE, ""
    if stored is not None and outcome == Asset.Status.FAILED:
        # Bytes that did not match are never served, not even by a key guessed later.
        store.delete(asset.object_key)
    with transaction.atomic():
        updated = Asset.objects.filter(pk=asset.pk, status=Asset.Status.VERIFYING).update(
            status=outcome,
            failure_reason=reason,
            verified_at=timezone.now() if outcome == Asset.Status.AVAILABLE else None,
        )
        if updated:
            asset.refresh_from_db()
            log.info("asset checked", asset=str(asset.pk), outcome=outcome)
            audit.record(
                actor=None,
                action=f"asset.{'verified' if outcome == Asset.Status.AVAILABLE else 'rejected'}",
                subject=asset,
                data={"reason": reason},
            )
            licensability_changed.send(sender=Asset, assets=Asset.objects.filter(pk=asset.pk).values("pk"))
    asset.refresh_from_db()
    return asset


def _grant_scope(grant: Consent) -> QuerySet:
    """The ids of the assets a grant covers: one asset, or all of the member's."""
    if grant.asset_id:
        return Asset.objects.filter(pk=grant.asset_id).values("pk")
    return Asset.objects.filter(contributors__member_id=grant.member_id).values("pk")


def _text_in_force(use: str, language: str) -> ConsentText:
    if not is_use(use):
        raise Invalid(f"unknown use {use!r}", code="bad_use")
    text = current_text(use, language=language)
    if text is None:
        raise Invalid(f"no consent text for {use!r} is published in {language!r}", code="no_consent_text")
    return text


def _authority_to_decide(*, actor, member: Member) -> str:
    """In whose right `actor` decides for `member` (see `selectors.deciding_authority`), or a 403:
    `authority_passed` for the late member's own login, `not_your_consent` for anyone else. The
    caller holds the member's row lock, so a death recorded meanwhile is seen."""
    authority = deciding_authority(user=actor, member=member)
    if authority is not None:
        return authority
    if member.user_id == getattr(actor, "pk", None):
        raise Forbidden(
            "this member's death is recorded: their estate representative or the union decides now",
            code="authority_passed",
        )
    raise Forbidden(
        "only the member, or after their death their authority, can decide", code="not_your_consent"
    )


def _decide(
    *, actor, member: Member, use: str, asset: Asset | None, language: str
) -> tuple[ConsentText, object, str]:
    """What every decision checks first: the member decides for themself (after their death,
    their authority does), on an asset they contribute to (or all of theirs), under the text in
    force; one decision at a time per member."""
    Member.objects.select_for_update().get(pk=member.pk)
    authority = _authority_to_decide(actor=actor, member=member)
    text = _text_in_force(use, language)
    if asset is not None and not asset.contributors.accepted().filter(member=member).exists():
        raise NotFound("no such asset", code="asset_not_found")
    return text, timezone.now(), authority


def _record_decision(
    *, actor, member, use, asset, text, state, channel, now, authority, audit_data=None, **links
) -> Consent:
    decision = Consent.objects.create(
        member=member,
        asset=asset,
        use=use,
        state=state,
        text=text,
        terms_version=text.terms_version,
        consent_text_sha256=text.sha256,
        channel=channel,
        created_at=now,
        actor=actor,
        authority=authority,
        **links,
    )
    audit.record(
        actor=actor,
        action=f"consent.{state}",
        subject=decision,
        data={
            "member": member.member_number,
            "use": use,
            "asset": str(asset.pk) if asset else None,
            "terms_version": text.terms_version,
            "text_version": text.version,
            "language": text.language,
            "text_sha256": text.sha256,
            "authority": authority,
            **(audit_data or {}),
        },
    )
    return decision


@transaction.atomic
def consent_grant(
    *,
    actor,
    member: Member,
    use: str,
    asset: Asset | None = None,
    language: str = DEFAULT_LANGUAGE,
    channel: str = Consent.Channel.SCRIPT,
    cap_quantity: int | None = None,
    cap_per: str = "",
) -> Consent:
    """Record a grant by the member themself, for one asset they contribute to or for all
    their assets, under the text in force for the use (the grant points at it). A second
    active grant for the same scope is refused. A standing refusal of the scope simply ends:
    the member changed their mind, and both decisions stay in the history. A cap (`cap_quantity`
    per `cap_per`, lease or year) limits how much of the use licensing lets through under it."""
    _check_cap(use=use, cap_quantity=cap_quantity, cap_per=cap_per)
    text, now, authority = _decide(actor=actor, member=member, use=use, asset=asset, language=language)
    if active_grants(use=use, at=now).filter(member=member, asset=asset).exists():
        raise Conflict("this consent is already granted", code="already_granted")
    consent = _record_decision(
        actor=actor,
        member=member,
        use=use,
        asset=asset,
        text=text,
        state=Consent.State.GRANTED,
        channel=channel,
        now=now,
        authority=authority,
        audit_data={"cap": {"quantity": cap_quantity, "per": cap_per}} if cap_quantity else None,
        cap_quantity=cap_quantity,
        cap_per=cap_per if cap_quantity else "",
    )
    # `capped` tells licensing to ask the quotas of the leases holding the scope from now on.
    licensability_changed.send(sender=Consent, assets=_grant_scope(consent), capped=cap_quantity is not None)
    return consent


def _check_cap(*, use: str, cap_quantity: int | None, cap_per: str) -> None:
    """A cap is a whole one (a quantity of at least 1, per lease or per year), on a licensable
    use: the first opt-in (capture) is not metered."""
    if cap_quantity is None and not cap_per:
        return
    if is_first_opt_in(use):
        raise Invalid("capture cannot be capped: cap a licensable use", code="bad_cap")
    if cap_quantity is None or isinstance(cap_quantity, bool) or not isinstance(cap_quantity, int):
        raise Invalid("a cap needs a whole quantity", code="bad_cap")
    if not 1 <= cap_quantity <= CAP_MAX:
        raise Invalid(f"a cap's quantity lies between 1 and {CAP_MAX}", code="bad_cap")
    if cap_per not in CapPer.values:
        raise Invalid(f"a cap is per {' or per '.join(CapPer.values)}", code="bad_cap")


# The largest cap quantity: a generated-second count any report could plausibly reach (10^12).
CAP_MAX = 10**12


@transaction.atomic
def consent_refuse(
    *,
    actor,
    member: Member,
    use: str,
    asset: Asset | None = None,
    language: str = DEFAULT_LANGUAGE,
    channel: str = Consent.Channel.SCRIPT,
) -> Consent:
    """Record the member's explicit "no" to a use, for one asset or all their assets, under the
    text they were shown. A refusal is never a grant: nothing becomes licensable and nothing is
    taken down, so no licensing signal is sent. Refusing what an active grant of the member
    covers (that scope, or all their assets; for all assets, any grant of the use) is a 409
    `consent_granted`: withdrawing is its own decision, with its own confirmation and takedowns,
    so the member withdraws first and may then refuse. Refusing twice is a 409 `already_refused`."""
    text, now, authority = _decide(actor=actor, member=member, use=use, asset=asset, language=language)
    grants = active_grants(use=use, at=now).filter(member=member)
    if asset is not None:
        grants = grants.filter(Q(asset__isnull=True) | Q(asset=asset))
    if grants.exists():
        raise Conflict(
            "a grant of this use covers this scope: withdraw it first, then refuse", code="consent_granted"
        )
    if standing_refusals(at=now).filter(member=member, use=use, asset=asset).exists():
        raise Conflict("this use is already refused", code="already_refused")
    return _record_decision(
        actor=actor,
        member=member,
        use=use,
        asset=asset,
        text=text,
        state=Consent.State.REFUSED,
        channel=channel,
        now=now,
        authority=authority,
    )


@transaction.atomic
def consent_reconfirm(*, actor, consent: Consent, channel: str = Consent.Channel.SCRIPT) -> Consent:
    """Re-confirm an active grant under the text now in force for its use and language. Recorded
    as a new grant under the new text whose `reconfirms` names the old grant (it supersedes
    nothing: `supersedes` is for withdrawals). The two meet at one instant, so the scope never
    stops being covered: no licensing change, no takedown, no signal. The old grant keeps its
    text and meaning."""
    grant = Consent.objects.select_related("member", "text", "asset").get(pk=consent.pk)
    text, now, authority = _decide(
        actor=actor, member=grant.member, use=grant.use, asset=None, language=grant.text.language
    )
    if not active_grants(use=grant.use, at=now).filter(pk=grant.pk).exists():
        raise Conflict("only a grant in force can be re-confirmed", code="not_in_force")
    if text.version <= grant.text.version:
        raise Conflict("this grant was made under the text in force", code="already_current")
    return _record_decision(
        actor=actor,
        member=grant.member,
        use=grant.use,
        asset=grant.asset,
        text=text,
        state=Consent.State.GRANTED,
        channel=channel,
        now=now,
        authority=authority,
        audit_data={"reconfirms": grant.pk, "previous_text_version": grant.text.version},
        reconfirms=grant,
        # The member re-confirms the same decision: its cap, if any, carries over.
        cap_quantity=grant.cap_quantity,
        cap_per=grant.cap_per,
    )


@transaction.atomic
def consent_text_publish(
    *, actor, use: str, text: str, language: str = DEFAULT_LANGUAGE, effective_at=None
) -> ConsentText:
    """Publish the next version of a use's consent text (administrators only; audited). Old
    versions and the grants made under them are untouched; members whose grants were made
    under an older version are offered to re-confirm under this one once it is in effect."""
    require_trust_admin(actor)
    if not is_use(use):
        raise Invalid(f"unknown use {use!r}", code="bad_use")
    text = text.strip()
    if not text:
        raise Invalid("a consent text cannot be empty", code="empty_text")
    now = timezone.now()
    # A text never takes effect before it is published: an earlier date (or none) means now.
    effective_at = max(effective_at or now, now)
    # One publisher at a time per use and language: the version numbers never collide.
    existing = ConsentText.objects.select_for_update().filter(use=use, language=language)
    latest = existing.order_by("-version").first()
    if latest is not None and latest.text == text:
        raise Conflict("this text is already the latest version", code="text_unchanged")
    published = ConsentText.objects.create(
        use=use,
        language=language,
        version=(latest.version if latest else 0) + 1,
        terms_version=settings.TRUST_CONSENT_TERMS_VERSION,
        effective_at=effective_at,
        text=text,
        published_by=actor,
    )
    audit.record(
        actor=actor,
        action="consent_text.published",
        subject=published,
        data={
            "use": use,
            "language": language,
            "version": published.version,
            "sha256": published.sha256,
            "effective_at": effective_at.isoformat(),
        },
    )
    return published


@transaction.atomic
def consent_withdraw(*, actor, consent: Consent, channel: str = Consent.Channel.SCRIPT) -> Consent:
    """End a grant now with a new record under the grant's own text; licensing is told so it
    can issue takedowns. A grant re-confirmed under a newer text is withdrawn through the grant
    that re-confirmed it (409 `reconfirmed` otherwise)."""
    Member.objects.select_for_update().get(pk=consent.member_id)
    authority = _authority_to_decide(actor=actor, member=consent.member)
    if consent.state != Consent.State.GRANTED:
        raise Conflict("only a grant can be withdrawn", code="not_a_grant")
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    if Consent.objects.filter(supersedes=consent).exists():
        raise Conflict("this consent is already withdrawn", code="already_withdrawn")
    if Consent.objects.filter(reconfirms=consent).exists():
        raise Conflict(
            "this grant was re-confirmed: withdraw the grant that re-confirmed it", code="reconfirmed"
        )
    try:
        with transaction.atomic():
            withdrawal = Consent.objects.create(
                member=consent.member,
                asset=consent.asset,
                use=consent.use,
                state=Consent.State.WITHDRAWN,
                text_id=consent.text_id,
                terms_version=consent.terms_version,
                consent_text_sha256=consent.consent_text_sha256,
                supersedes=consent,
                channel=channel,
                created_at=timezone.now(),
                actor=actor,
                authority=authority,
            )
    except IntegrityError as error:
        raise Conflict("this consent is already withdrawn", code="already_withdrawn") from error
    audit.record(
        actor=actor,
        action="consent.withdrawn",
        subject=withdrawal,
        data={
            "grant": consent.pk,
            "member": consent.member.member_number,
            "use": consent.use,
            "asset": str(consent.asset_id) if consent.asset_id else None,
            "authority": authority,
        },
    )
    # The licensable set first: the withdrawal is in force for downloads when this commits.
    licensability_changed.send(sender=Consent, assets=_grant_scope(consent))
    consent_withdrawn.send(sender=Consent, withdrawal=withdrawal, actor=actor)
    return withdrawal


UNION = "union"


def _authority_holder(*, member: Member, authority) -> tuple[str, object]:
    """(kind, user) for an authority given as a user id or "union". The holder is an active
    user other than the member; an administrator's own account is not a holder (administrators
    act as the union)."""
    if authority == UNION:
        return Authority.UNION, None
    holder = User.objects.filter(pk=authority, is_active=True).first() if str(authority).isdigit() else None
    if holder is None:
        raise Invalid('the authority must be an active user\'s id or "union"', code="unknown_user")
    if holder.pk == member.user_id:
        raise Invalid("a member cannot be their own estate representative", code="authority_is_the_member")
    if is_trust_admin(holder):
        raise Invalid('administrators act as the union: give "union"', code="authority_is_an_administrator")
    return Authority.ESTATE_REPRESENTATIVE, holder


def _authority_audit(kind: str, holder) -> dict:
    return {"authority": kind, "authority_user": holder.get_username() if holder else None}


@transaction.atomic
def estate_representative_name(*, actor, member: Member, username: str) -> EstateRepresentative:
    """The member names, while alive, who decides on their consent after their death (the user
    must hold an account with the trust). Naming again replaces the choice; audited."""
    Member.objects.select_for_update().get(pk=member.pk)
    if member.user_id != getattr(actor, "pk", None):
        raise Forbidden("only the member can name their estate representative", code="not_your_member")
    if authority_in_force(member) is not None:
        raise Conflict("this member's death is recorded", code="member_deceased")
    user = User.objects.filter(username=username).first()
    if user is None:
        raise Invalid("no account with this login", code="unknown_user")
    _, holder = _authority_holder(member=member, authority=user.pk)
    named, _ = EstateRepresentative.objects.update_or_create(
        member=member, defaults={"user": holder, "named_at": timezone.now()}
    )
    audit.record(
        actor=actor,
        action="member.estate_representative_named",
        subject=member,
        data={"member": member.member_number, "representative": holder.get_username()},
    )
    return named


@transaction.atomic
def member_record_death(*, actor, member: Member, died_on, evidence: str, authority=None) -> MemberDeath:
    """An administrator records a member's death with the evidence it rests on (audited with
    it). From this commit the member's own login decides nothing; the authority decides: the
    estate representative the member named, or, failing one (or with `authority="union"`), the
    union. A user other than the one the member named is refused here (422
    `not_the_named_representative`): a court appointment is an authority change, with its
    own evidence. Grants the member made stay in force (README: Estate and union authority)."""
    require_trust_admin(actor)
    evidence = (evidence or "").strip()
    if not evidence:
        raise Invalid("a death is recorded with the evidence it rests on", code="evidence_required")
    member = Member.objects.select_for_update().get(pk=member.pk)
    if MemberDeath.objects.filter(member=member).exists():
        raise Conflict("this member's death is already recorded", code="death_already_recorded")
    now = timezone.now()
    if died_on > timezone.localdate(now):
        raise Invalid("the date of death cannot be in the future", code="date_in_future")
    named = EstateRepresentative.objects.filter(member=member).first()
    if authority is None:
        authority = named.user_id if named else UNION
    kind, holder = _authority_holder(member=member, authority=authority)
    if holder is not None and (named is None or named.user_id != holder.pk):
        raise Invalid(
            'the authority passes to the representative the member named, or "union"',
            code="not_the_named_representative",
        )
    death = MemberDeath.objects.create(
        member=member, died_on=died_on, evidence=evidence, recorded_at=now, recorded_by=actor
    )
    ConsentAuthority.objects.create(
        member=member, kind=kind, user=holder, evidence=evidence, since=now, recorded_by=actor
    )
    audit.record(
        actor=actor,
        action="member.death_recorded",
        subject=member,
        data={
            "member": member.member_number,
            "died_on": died_on.isoformat(),
            "evidence": evidence,
            **_authority_audit(kind, holder),
        },
    )
    return death


@transaction.atomic
def consent_authority_change(*, actor, member: Member, authority, evidence: str) -> ConsentAuthority:
    """An administrator passes a late member's consent authority to another holder (a court
    appoints an executor, a representative resigns: then the union), on the evidence given.
    Decisions the previous holder made stay as they were made; audited."""
    require_trust_admin(actor)
    evidence = (evidence or "").strip()
    if not evidence:
        raise Invalid("an authority change is recorded with its evidence", code="evidence_required")
    member = Member.objects.select_for_update().get(pk=member.pk)
    current = authority_in_force(member)
    if current is None:
        raise Conflict("the member's death is not recorded: they decide themself", code="member_alive")
    kind, holder = _authority_holder(member=member, authority=authority)
    if current.kind == kind and current.user_id == (holder.pk if holder else None):
        raise Conflict("this authority already holds the member's consent", code="authority_unchanged")
    changed = ConsentAuthority.objects.create(
        member=member, kind=kind, user=holder, evidence=evidence, since=timezone.now(), recorded_by=actor
    )
    audit.record(
        actor=actor,
        action="member.authority_changed",
        subject=member,
        data={"member": member.member_number, "evidence": evidence, **_authority_audit(kind, holder)},
    )
    return changed


@transaction.atomic
def dataset_create(*, actor, slug: str, title: str, description: str = "") -> Dataset:
    require_trust_admin(actor)
    if Dataset.objects.filter(slug=slug).exists():
        raise Conflict(f"dataset {slug!r} exists", code="slug_taken")
    dataset = Dataset.objects.create(slug=slug, title=title, description=description)
    audit.record(actor=actor, action="dataset.created", subject=dataset, data={"slug": slug})
    return dataset


@transaction.atomic
def dataset_add_assets(*, actor, dataset: Dataset, asset_ids: list) -> int:
    """Add available assets to the working set; assets already in it are left as they are.
    Returns how many were added."""
    require_trust_admin(actor)
    wanted = set(map(str, asset_ids))
    try:
        assets = list(Asset.objects.filter(pk__in=wanted))
    except DjangoValidationError as error:
        raise Invalid("asset ids must be UUIDs", code="bad_asset_id") from error
    missing = wanted - {str(a.pk) for a in assets}
    if missing:
        raise Invalid(f"no such assets: {', '.join(sorted(missing))}", code="unknown_asset")
    unavailable = [str(a.pk) for a in assets if a.status != Asset.Status.AVAILABLE]
    if unavailable:
        raise Conflict(
            f"assets not verified yet: {', '.join(sorted(unavailable))}", code="asset_not_available"
        )
    present = set(dataset.items.values_list("asset_id", flat=True))
    new = [DatasetItem(dataset=dataset, asset=a) for a in assets if a.pk not in present]
    DatasetItem.objects.bulk_create(new)
    if new:
        audit.record(
            actor=actor,
            action="dataset.assets_added",
            subject=dataset,
            data={"assets": sorted(str(item.asset_id) for item in new)},
        )
    return len(new)


def manifest_sha256(pairs) -> str:
    """SHA-256 over the sorted `asset_id:sha256` lines of a version."""
    lines = "".join(f"{asset_id}:{sha}\n" for asset_id, sha in sorted((str(a), s) for a, s in pairs))
    return hashlib.sha256(lines.encode()).hexdigest()


@transaction.atomic
def dataset_freeze(*, actor, dataset: Dataset) -> DatasetVersion:
    """Snapshot the working set as the next immutable numbered version. Refused when the draft
    is empty, or holds exactly what the latest version holds (same assets, same bytes)."""
    require_trust_admin(actor)
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    items = list(dataset.items.select_related("asset"))
    if not items:
        raise Conflict("an empty dataset cannot be frozen", code="dataset_empty")
    latest = dataset.versions.order_by("-number").values("number", "manifest_sha256").first()
    pairs = [(item.asset_id, item.asset.sha256) for item in items]
    manifest = manifest_sha256(pairs)
    if latest is not None and latest["manifest_sha256"] == manifest:
        raise Conflict(
            f"nothing changed since version {latest['number']}: it already holds exactly these "
            f"{len(items)} assets; add assets to the draft before freezing a new version",
            code="dataset_unchanged",
        )
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=(latest["number"] if latest else 0) + 1,
        manifest_sha256=manifest,
        created_by=actor,
    )
    DatasetVersionItem.objects.bulk_create(
        [
            DatasetVersionItem(
                version=version, asset=item.asset, sha256=item.asset.sha256, size=item.asset.size
            )
            for item in items
        ]
    )
    audit.record(
        actor=actor,
        action="dataset.frozen",
        subject=version,
        data={
            "dataset": dataset.slug,
            "number": version.number,
            "manifest_sha256": version.manifest_sha256,
            "asset_count": len(items),
        },
    )
    return version
