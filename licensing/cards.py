"""Open formats that describe what the trust holds and licenses: a Croissant 1.1 dataset card
(JSON-LD, with the Responsible-AI vocabulary) for every frozen dataset version and for what a
lease may use now, and an ODRL 2.2 agreement for every approved lease (also the lease card's
licence). The server writes the JSON-LD itself; the test suite validates it with mlcroissant
and expands it with pyld.

Both documents carry their whole `@context` inline, so no reader needs to fetch a context from
the network to understand them. Terms with no home in schema.org, Croissant or ODRL (the
consent uses, the takedown notice) are IRIs of the Guildtrust vocabulary (`GUILDTRUST_VOCAB`):
identifiers, not pages to fetch."""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import F, Func, Max, Min, QuerySet, TextField, Value
from django.db.models.functions import Cast, Concat
from django.urls import reverse
from django.utils import timezone

from trust.consent import LICENSABLE_USE_VALUES, TRAINING_USE, current_texts, in_use_order, use_label
from trust.models import Asset, DatasetVersion, DatasetVersionItem
from trust.selectors import consent_coverage

from .models import Lease, LeasePart, UsageEvent
from .selectors import effective_end, lease_licensable_now, takedown_deadline

GUILDTRUST_VOCAB = "https://guildtrust.org/ns#"
CROISSANT_1_1 = "http://mlcommons.org/croissant/1.1"
CROISSANT_RAI_1_0 = "http://mlcommons.org/croissant/RAI/1.0"
# Rows per fetch from the server-side cursor and per chunk of a streamed card.
CARD_CHUNK_ROWS = 2000

# The Croissant 1.1 context (the one the specification recommends), plus the RAI, ODRL and
# Guildtrust prefixes this card uses.
CROISSANT_CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/",
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "guildtrust": GUILDTRUST_VOCAB,
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

# The terms of the ODRL 2.2 context (http://www.w3.org/ns/odrl.jsonld) this agreement uses, with
# the same definitions, so the document expands the same with or without the published context.
ODRL_CONTEXT = {
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dct": "http://purl.org/dc/terms/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "guildtrust": GUILDTRUST_VOCAB,
    "uid": "@id",
    "type": "@type",
    "Agreement": "odrl:Agreement",
    "Party": "odrl:Party",
    "Asset": "odrl:Asset",
    "profile": {"@type": "@id", "@id": "odrl:profile"},
    "conflict": {"@type": "@vocab", "@id": "odrl:conflict"},
    "prohibit": "odrl:prohibit",
    "assigner": {"@type": "@id", "@id": "odrl:assigner"},
    "assignee": {"@type": "@id", "@id": "odrl:assignee"},
    "target": {"@type": "@id", "@id": "odrl:target"},
    "permission": {"@type": "@id", "@id": "odrl:permission"},
    "prohibition": {"@type": "@id", "@id": "odrl:prohibition"},
    "obligation": {"@type": "@id", "@id": "odrl:obligation"},
    "action": {"@type": "@vocab", "@id": "odrl:action"},
    "refinement": {"@type": "@id", "@id": "odrl:refinement"},
    "constraint": {"@type": "@id", "@id": "odrl:constraint"},
    "leftOperand": {"@type": "@vocab", "@id": "odrl:leftOperand"},
    "operator": {"@type": "@vocab", "@id": "odrl:operator"},
    "rightOperand": "odrl:rightOperand",
    "unit": {"@type": "@id", "@id": "odrl:unit"},
    "compensatedParty": {"@type": "@id", "@id": "odrl:compensatedParty"},
    "informedParty": {"@type": "@id", "@id": "odrl:informedParty"},
    "use": "odrl:use",
    "reproduce": "odrl:reproduce",
    "compensate": "odrl:compensate",
    "inform": "odrl:inform",
    "delete": "odrl:delete",
    "purpose": "odrl:purpose",
    "dateTime": "odrl:dateTime",
    "count": "odrl:count",
    "payAmount": "odrl:payAmount",
    "unitOfCount": "odrl:unitOfCount",
    "event": "odrl:event",
    "elapsedTime": "odrl:elapsedTime",
    "eq": "odrl:eq",
    "gt": "odrl:gt",
    "gteq": "odrl:gteq",
    "lt": "odrl:lt",
    "lteq": "odrl:lteq",
}

# What each kind of asset reveals about the people in it (rai:personalSensitiveInformation).
SENSITIVE_INFORMATION = {
    Asset.Kind.FACE_SCAN: "biometric data: 3D face geometry (face scans) that identifies the person scanned",
    Asset.Kind.BODY_SCAN: "biometric data: body shape and measurements (body scans)",
    Asset.Kind.VOICE_RECORDING: "biometric data: voice recordings, from which a voiceprint identifies the "
    "speaker",
    Asset.Kind.MOTION_CAPTURE: "movement data (motion capture), which can identify a performer by gait "
    "and style",
    Asset.Kind.PERFORMANCE_FOOTAGE: "likeness: performance footage showing faces, bodies and voices",
    Asset.Kind.STILL_IMAGE: "likeness: photographs of the performers",
    Asset.Kind.SCRIPT: "creative work: scripts by union writers (copyright, no biometric data)",
}

# What a charge is counted per, in the ODRL agreement's pay duties (unitOfCount).
CHARGE_UNITS = {
    UsageEvent.Kind.DOWNLOAD: "guildtrust:download",
    UsageEvent.Kind.TRAINING_RUN: "guildtrust:trainingRun",
    UsageEvent.Kind.GENERATED_SECOND: "guildtrust:generatedSecond",
}


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def trust_iri() -> str:
    return _absolute("/")


def version_iri(version: DatasetVersion) -> str:
    """The dataset version's identifier in both documents: its card's address."""
    return _absolute(
        reverse(
            "api-dataset-version-croissant",
            kwargs={"dataset_id": version.dataset_id, "number": version.number},
        )
    )


def agreement_iri(lease: Lease) -> str:
    return _absolute(reverse("api-lease-odrl", kwargs={"lease_id": lease.pk}))


def use_iri(use: str) -> str:
    return f"guildtrust:{use}"


def _money(cents: int) -> dict:
    # Exact decimal of the integer cents: no float anywhere near money.
    return {"@value": str(Decimal(cents).scaleb(-2)), "@type": "xsd:decimal"}


def _when(value) -> dict:
    return {"@value": value.isoformat(), "@type": "xsd:dateTime"}


def _constraint(left: str, operator: str, right, **extra) -> dict:
    return {"leftOperand": left, "operator": operator, "rightOperand": right, **extra}


# --- ODRL ---------------------------------------------------------------------------------------


def _time_window(starts_at, ends_at) -> list[dict]:
    return [_constraint("dateTime", "gteq", _when(starts_at)), _constraint("dateTime", "lt", _when(ends_at))]


def _use_cap(use: str, use_caps: dict) -> list[dict]:
    """A terms' quota on a use (licensing.quotas), per lease: a count of the unit it is used in
    (training runs for training, generated seconds for generation)."""
    if use not in use_caps:
        return []
    kind = UsageEvent.Kind.TRAINING_RUN if use == TRAINING_USE else UsageEvent.Kind.GENERATED_SECOND
    return [
        _constraint("count", "lteq", {"@value": int(use_caps[use]), "@type": "xsd:integer"}),
        _constraint("unitOfCount", "eq", {"@id": CHARGE_UNITS[kind]}),
    ]


def _permissions(
    *, uses, starts_at, ends_at, download_cap, target, assigner=None, use_caps=None
) -> list[dict]:
    """One permission to use the target for each permitted use (a purpose), in the lease's time
    window and within the terms' quota on it, and one to download (reproduce) it, capped by
    count when the lease has a cap."""
    window = _time_window(starts_at, ends_at)
    party = {"assigner": assigner} if assigner else {}
    rules = [
        {
            "target": target,
            **party,
            "action": "use",
            "constraint": [
                _constraint("purpose", "eq", {"@id": use_iri(use)}),
                *window,
                *_use_cap(use, use_caps or {}),
            ],
        }
        for use in in_use_order(uses)
    ]
    download = list(window)
    if download_cap is not None:
        download.append(_constraint("count", "lteq", {"@value": download_cap, "@type": "xsd:integer"}))
    rules.append({"target": target, **party, "action": "reproduce", "constraint": download})
    return rules


def _prohibitions(*, uses, target) -> list[dict]:
    return [
        {
            "target": target,
            "action": "use",
            "constraint": [_constraint("purpose", "eq", {"@id": use_iri(use)})],
        }
        for use in in_use_order(set(LICENSABLE_USE_VALUES) - set(uses))
    ]


def _pay_duties(*, flat_fee_cents: int, unit_prices: dict, currency: str, payee: str) -> list[dict]:
    """What the studio pays: the flat fee, then each unit price above zero, per unit counted."""
    unit = f"urn:iso:std:iso:4217:{currency}"

    def compensate(cents, *refinements, description):
        action = {
            "rdf:value": {"@id": "odrl:compensate"},
            "refinement": [_constraint("payAmount", "eq", _money(cents), unit=unit), *refinements],
        }
        return {"action": [action], "compensatedParty": payee, "dct:description": description}

    duties = []
    if flat_fee_cents:
        duties.append(compensate(flat_fee_cents, description="Flat fee, invoiced in the period of approval."))
    for kind, count_unit in CHARGE_UNITS.items():
        if unit_prices.get(kind):
            duties.append(
                compensate(
                    unit_prices[kind],
                    _constraint("unitOfCount", "eq", {"@id": count_unit}),
                    description=f"Price per {kind.replace('_', ' ')}, invoiced in the period of use.",
                )
            )
    return duties


def _remote_parts(lease: Lease) -> list[LeasePart]:
    return [part for part in lease.parts.all() if part.peer_id is not None]


def agreement(lease: Lease) -> dict:
    """The lease's ODRL 2.2 Agreement: this trust assigns, the studio is the assignee, the target
    is the pinned dataset version. A permission per permitted use (purpose) and one to download,
    each within the lease's time window (the download one capped by count); a prohibition per
    licensable use not granted; obligations to pay the lease's prices, report usage and delete a
    withdrawn asset within the takedown deadline of its notice. A federated lease at its home
    trust adds each other trust's part as permissions with that trust as their assigner and its
    dataset as their target. Needs the lease's version, studio and (prefetched) parts."""
    trust, target = trust_iri(), version_iri(lease.version)
    ends_at = effective_end(lease)
    studio = lease.studio
    studio_iri = (
        f"{studio.home_peer.base_url.rstrip('/')}/studios/{studio.home_studio_id}"
        if studio.home_peer_id
        else _absolute(f"/studios/{studio.pk}")
    )
    # A part of a peer's federated lease is paid to the studio's home trust, which invoices the
    # whole lease and owes this trust its part (FEDERATION.md); a local lease is paid here.
    payee = studio.home_peer.base_url.rstrip("/") + "/" if studio.home_peer_id else trust
    pay = _pay_duties(
        flat_fee_cents=lease.flat_fee_cents,
        unit_prices={kind: lease.unit_price(kind) for kind in CHARGE_UNITS},
        currency=lease.currency,
        payee=payee,
    )
    permissions = _permissions(
        uses=lease.permitted_uses,
        starts_at=lease.starts_at,
        ends_at=ends_at,
        download_cap=lease.download_cap,
        target=target,
        use_caps=lease.use_caps,
    )
    for part in _remote_parts(lease):
        if part.status != LeasePart.Status.APPROVED or part.starts_at is None:
            continue
        peer_iri = part.peer.base_url.rstrip("/") + "/"
        dataset = part.offer.get("dataset") or {}
        part_target = f"{peer_iri}api/v1/terms/{part.remote_terms_id}#{dataset.get('slug', 'dataset')}"
        permissions += _permissions(
            uses=part.offer.get("permitted_uses", lease.permitted_uses),
            starts_at=part.starts_at,
            ends_at=part.ends_at or ends_at,
            download_cap=part.offer.get("download_cap"),
            target=part_target,
            assigner={"uid": peer_iri, "type": "Party", "vcard:fn": part.peer.name},
        )
        # The home trust invoices the whole lease (FEDERATION.md), so each part's prices are paid to it.
        pay += _pay_duties(
            flat_fee_cents=part.offer.get("flat_fee_cents", 0),
            unit_prices={kind: part.offer.get(f"price_per_{kind}_cents", 0) for kind in CHARGE_UNITS},
            currency=lease.currency,
            payee=trust,
        )
    usage_url = _absolute(reverse("api-lease-usage", kwargs={"lease_id": lease.pk}))
    deadline_days = lease.takedown_attest_days  # the lease's copy of its terms' days
    obligations = [
        *pay,
        {
            "action": "inform",
            "informedParty": trust,
            "dct:description": f"Report every training run and generated second to {usage_url}.",
        },
        {
            "action": "delete",
            "target": target,
            "constraint": [
                _constraint("event", "gt", {"@id": "guildtrust:takedownNotice"}),
                _constraint("elapsedTime", "lteq", {"@value": f"P{deadline_days}D", "@type": "xsd:duration"}),
            ],
            "dct:description": "Delete an asset named by a takedown notice (a member withdrew consent) "
            f"and attest its deletion within {deadline_days} days of the notice.",
        },
    ]
    return {
        "@context": ODRL_CONTEXT,
        "uid": agreement_iri(lease),
        "type": "Agreement",
        "profile": GUILDTRUST_VOCAB,
        "conflict": "prohibit",
        "dct:title": f"Lease {lease.pk}: {lease.version.dataset.title} v{lease.version.number}",
        "dct:description": lease.purpose,
        "dct:issued": _when(lease.starts_at),
        "assigner": {"uid": trust, "type": "Party", "vcard:fn": settings.TRUST_NAME},
        "assignee": {"uid": studio_iri, "type": "Party", "vcard:fn": studio.name},
        "target": {"uid": target, "type": "Asset", "dct:identifier": lease.version.manifest_sha256},
        "permission": permissions,
        "prohibition": _prohibitions(uses=lease.permitted_uses, target=target),
        "obligation": obligations,
    }


# --- Croissant ------------------------------------------------------------------------------------


def _sensitive_information(kinds: Iterable[str]) -> list[str]:
    present = set(kinds)
    found = [text for kind, text in SENSITIVE_INFORMATION.items() if kind in present]
    return [
        *found,
        "Every asset is held for named members of the union; this card names none of them (the "
        "trust's records keep member numbers, never shown here).",
    ]


def _collection(version: DatasetVersion) -> dict:
    """What the RAI fields say about how the data was collected (one aggregate query)."""
    span = DatasetVersionItem.objects.filter(version=version).aggregate(
        first=Min("asset__created_at"), last=Max("asset__created_at")
    )
    timeframe = [span["first"].isoformat(), span["last"].isoformat()] if span["first"] else []
    return {
        "rai:dataCollection": "Recorded from union members (performers and writers) who contributed their "
        "own scans, voice, motion capture, footage and scripts to the trust, each asset stored with its "
        "SHA-256 and released only after the stored object's size and hash were verified.",
        "rai:dataCollectionType": ["Physical data collection", "Self-reporting"],
        **({"rai:dataCollectionTimeframe": timeframe} if timeframe else {}),
    }


def _consent_limits(generated_at) -> str:
    return (
        "Consent is a double opt-in, per member and per use: an asset is usable for a use only while every "
        "contributor holds an active capture grant and an active grant for that use. A member may "
        "withdraw at any time; withdrawal takes effect at once: the asset leaves every lease's manifest "
        "and card, its "
        "downloads are refused, and every active lease that held it gets a takedown notice the studio must "
        f"act on within the days its lease's terms set ({takedown_deadline().days} by default). "
        "So the set of assets re-cuts itself: this card "
        f"describes it as of {generated_at.isoformat()}."
    )


def _head(
    *, iri, name, description, version, generated_at, assets_kinds, uses_text, limitations, extra
) -> dict:
    return {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "@id": iri,
        "name": name,
        "description": description,
        "conformsTo": [CROISSANT_1_1, CROISSANT_RAI_1_0],
        "url": iri,
        "citeAs": f"{settings.TRUST_NAME}. {version.dataset.title}, version {version.number} "
        f"(manifest SHA-256 {version.manifest_sha256}). {version_iri(version)}",
        "version": f"{version.number}.0.0",
        "datePublished": version.created_at.isoformat(),
        "dateModified": generated_at.isoformat(),
        "creator": {"@type": "sc:Organization", "name": settings.TRUST_NAME, "url": trust_iri()},
        "publisher": {"@type": "sc:Organization", "name": settings.TRUST_NAME, "url": trust_iri()},
        "isAccessibleForFree": False,
        "dct:identifier": version.manifest_sha256,
        **_collection(version),
        "rai:personalSensitiveInformation": _sensitive_information(assets_kinds),
        "rai:dataUseCases": uses_text,
        "rai:dataLimitations": limitations,
        "rai:dataSocialImpact": "Models trained on performers' likeness and voice can substitute for their "
        "work; the trust licenses only what members consented to, pays them per use, and publishes every "
        "lease and every declared model on its transparency register.",
        "rai:dataReleaseMaintenancePlan": "Dataset versions are frozen (manifest hash over asset ids and "
        "SHA-256s); a new version is a new card. Consent withdrawals re-cut the usable set at once.",
        **extra,
    }


FIELDS = [
    ("id", "sc:Text", "The asset's identifier at the trust."),
    (
        "kind",
        "sc:Text",
        "face_scan, body_scan, voice_recording, motion_capture, performance_footage, still_image or script.",
    ),
    ("title", "sc:Text", "The asset's title."),
    ("content_type", "sc:Text", "The file's media type."),
    ("sha256", "sc:Text", "SHA-256 of the file, verified when it was stored."),
    ("size", "sc:Integer", "The file's size in bytes."),
]


def _record_set(with_data: bool) -> str:
    """The RecordSet's JSON up to (not including) its inline `data` list's rows."""
    record_set = {
        "@type": "cr:RecordSet",
        "@id": "assets",
        "name": "assets",
        "description": "One record per file of the distribution.",
        "key": {"@id": "assets/id"},
        "field": [
            {
                "@type": "cr:Field",
                "@id": f"assets/{name}",
                "name": name,
                "description": text,
                "dataType": kind,
            }
            for name, kind, text in FIELDS
        ],
    }
    text = _json(record_set)
    return text[:-1] + ',"data":[' if with_data else text


@dataclass(frozen=True)
class CardFiles:
    """Where a card's files come from: `rows`, a queryset in id order, and the column of it that
    holds each field of FIELDS; each file's contentUrl is `url_prefix` + id + `url_suffix`."""

    rows: QuerySet
    columns: dict
    url_prefix: str
    url_suffix: str

    def _texts(self, pairs, python_entry) -> Iterator[str]:
        """Each row's JSON text, through a server-side cursor. On PostgreSQL the database writes
        the JSON (the worker passes text along, as the manifest does); elsewhere Python does."""
        if connection.vendor == "postgresql":
            arguments = [part for key, value in pairs for part in (Value(key), value)]
            entry = Func(*arguments, function="json_build_object", output_field=TextField())
            texts = self.rows.values_list(Cast(entry, TextField()), flat=True)
            yield from texts.iterator(chunk_size=CARD_CHUNK_ROWS)
            return
        names = list(self.columns)
        for values in self.rows.values_list(*self.columns.values()).iterator(chunk_size=CARD_CHUNK_ROWS):
            yield _json(python_entry(dict(zip(names, values, strict=True))))

    def files(self) -> Iterator[str]:
        column = {name: F(column) for name, column in self.columns.items()}
        pk = Cast(column["id"], TextField())
        pairs = [
            ("@type", Value("cr:FileObject")),
            ("@id", pk),
            ("name", pk),
            ("description", column["title"]),
            (
                "contentUrl",
                Concat(Value(self.url_prefix), pk, Value(self.url_suffix), output_field=TextField()),
            ),
            ("encodingFormat", column["content_type"]),
            ("contentSize", Concat(Cast(column["size"], TextField()), Value(" B"), output_field=TextField())),
            ("sha256", column["sha256"]),
        ]

        def entry(row):
            pk = str(row["id"])
            return {
                "@type": "cr:FileObject",
                "@id": pk,
                "name": pk,
                "description": row["title"],
                "contentUrl": f"{self.url_prefix}{pk}{self.url_suffix}",
                "encodingFormat": row["content_type"],
                "contentSize": f"{row['size']} B",
                "sha256": row["sha256"],
            }

        return self._texts(pairs, entry)

    def records(self) -> Iterator[str]:
        pairs = [(f"assets/{name}", F(self.columns[name])) for name, _, _ in FIELDS]

        def entry(row):
            return {f"assets/{name}": str(row[name]) if name == "id" else row[name] for name, _, _ in FIELDS}

        return self._texts(pairs, entry)


def _chunked(texts: Iterator[str]) -> Iterator[str]:
    """The texts joined by commas, CARD_CHUNK_ROWS at a time."""
    batch = []
    for text in texts:
        batch.append(text)
        if len(batch) == CARD_CHUNK_ROWS:
            yield ",".join(batch)
            batch = []
    if batch:
        yield ",".join(batch)


def card_chunks(head: dict, files: CardFiles) -> Iterator[bytes]:
    """The card in chunks of CARD_CHUNK_ROWS files: `head`, then a FileObject per file, then the
    `assets` RecordSet with one inline record per file (the rows are read twice, each time
    through a server-side cursor). The worker holds one chunk at a time, however many assets
    the card has."""
    yield (_json(head)[:-1] + ',"distribution":[').encode()
    separator = ""
    for chunk in _chunked(files.files()):
        yield (separator + chunk).encode()
        separator = ","
    if not separator:
        # Croissant refuses a record set with no records: an empty card has none.
        yield b'],"recordSet":[]}'
        return
    yield ('],"recordSet":[' + _record_set(with_data=True)).encode()
    separator = ""
    for chunk in _chunked(files.records()):
        yield (separator + chunk).encode()
        separator = ","
    yield b"]}]}"


def version_rows(version: DatasetVersion) -> QuerySet[DatasetVersionItem]:
    """The version's items in asset id order: each asset's hash and size are the version's."""
    return DatasetVersionItem.objects.filter(version=version).order_by("asset_id")


def version_card(version: DatasetVersion) -> Iterator[bytes]:
    """The Croissant card of a frozen version (administrators): every asset frozen into it, and
    for each licensable use how many of them members' consent covers now."""
    now = timezone.now()
    rows = version_rows(version)
    total = rows.count()
    kinds = rows.order_by().values_list("asset__kind", flat=True).distinct()
    coverage = consent_coverage(assets=Asset.objects.filter(version_items__version=version), at=now)
    texts = _consent_texts_now()
    uses_text = [
        f"{use_label(use)}: members' consent covers {coverage[use]} of the {total} assets now. "
        f"{texts.get(use, '')}"
        for use in LICENSABLE_USE_VALUES
    ]
    head = _head(
        iri=version_iri(version),
        name=f"{version.dataset.title} v{version.number}",
        description=(version.dataset.description or version.dataset.title)
        + " Files are served only to studios through a lease (each lease has a card of its own with the "
        "files it may use); contentUrl here is the asset's record at the trust's API.",
        version=version,
        generated_at=now,
        assets_kinds=kinds,
        uses_text=uses_text,
        limitations=[
            _consent_limits(now),
            "Not licensed by this card: studios lease the dataset under terms that name the permitted uses.",
        ],
        extra={"license": {"@type": "sc:CreativeWork", "name": "Leased under per-lease ODRL agreements"}},
    )
    columns = {
        "id": "asset_id",
        "kind": "asset__kind",
        "title": "asset__title",
        "content_type": "asset__content_type",
        "sha256": "sha256",
        "size": "size",
    }
    return card_chunks(head, CardFiles(rows, columns, _absolute("/api/v1/assets/"), "/"))


def lease_card(lease: Lease, *, iri: str, assets_base: str, only=None) -> Iterator[bytes]:
    """The Croissant card of what a lease may use now (lease token): the assets its manifest
    lists, with gateway download links, the lease's uses as intended uses and the others as
    prohibited, and the lease's ODRL agreement as its licence (`odrl:hasPolicy`)."""
    now = timezone.now()
    rows = lease_licensable_now(lease).order_by("pk")
    if only is not None:
        rows = rows.filter(pk__in=list(only))
    kinds = rows.order_by().values_list("kind", flat=True).distinct()
    prohibited = in_use_order(set(LICENSABLE_USE_VALUES) - set(lease.permitted_uses))
    version = lease.version
    policy = agreement(lease)
    head = _head(
        iri=iri,
        name=f"{version.dataset.title} v{version.number}, lease {lease.pk}",
        description=f"The files of {version.dataset.title} v{version.number} that lease {lease.pk} "
        f"({lease.studio.name}) may use now, with its download links. Purpose: {lease.purpose}",
        version=version,
        generated_at=now,
        assets_kinds=kinds,
        uses_text=[
            f"{use_label(use)}: {_consent_texts_now().get(use, '')}"
            for use in in_use_order(lease.permitted_uses)
        ],
        limitations=[
            _consent_limits(now),
            *(f"Prohibited: {use_label(use)}." for use in prohibited),
        ],
        extra={
            "isBasedOn": version_iri(version),
            "license": {
                "@type": "sc:CreativeWork",
                "name": f"ODRL agreement of lease {lease.pk}",
                "url": policy["uid"],
            },
            "odrl:hasPolicy": policy,
        },
    )
    columns = {name: "pk" if name == "id" else name for name, _, _ in FIELDS}
    return card_chunks(head, CardFiles(rows, columns, assets_base, "/download/"))


def _consent_texts_now() -> dict[str, str]:
    """The consent text members are shown now for each use (trust.consent's records)."""
    return {use: row.text for use, row in current_texts().items()}
