"""File names for a lease's assets: readable (the title), with the extension of the media type,
unique in the folder (case-insensitively, as on macOS and Windows), and safe on every OS."""

from __future__ import annotations

import mimetypes
import re
import unicodedata

STEM_MAX = 80
# What mimetypes does not know, or guesses oddly.
EXTENSIONS = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/flac": ".flac",
    "image/jpeg": ".jpg",
    "video/mp4": ".mp4",
    "application/octet-stream": ".bin",
    "text/plain": ".txt",
    "model/gltf-binary": ".glb",
    "model/obj": ".obj",
}
# Windows refuses these names whatever their extension.
RESERVED = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))}
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_SPACES = re.compile(r"[\s_-]*\s[\s_-]*|_{2,}|-{2,}")


def extension_of(content_type: str, original: str = "") -> str:
    """The media type's extension; else the original name's; else .bin."""
    media = (content_type or "").split(";")[0].strip().lower()
    extension = EXTENSIONS.get(media) or (mimetypes.guess_extension(media) if media else None)
    if not extension and "." in original:
        tail = "." + original.rsplit(".", 1)[1]
        extension = tail if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", tail) else None
    return (extension or ".bin").lower()


def stem_of(title: str) -> str:
    """The title as ASCII letters, digits, dots, dashes and single spaces turned to dashes."""
    # Apostrophes vanish ("Zoë's" -> "Zoes"); other punctuation separates words.
    title = re.sub(r"['\u2019]", "", title or "")
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    stem = _SPACES.sub("-", _UNSAFE.sub(" ", ascii_title).strip()).strip(" .-_")
    stem = stem[:STEM_MAX].rstrip(" .-_")
    if stem.lower().split(".")[0] in RESERVED:
        stem = f"{stem}-asset"
    return stem


def file_names(entries, taken: dict[str, str] | None = None) -> dict[str, str]:
    """{asset id: file name} for manifest entries. `taken` ({id: name} from an earlier pull into
    the same folder) is kept as it was, so a resumed pull finds its files under the same names
    whatever the manifest now holds; new names never collide with any of them."""
    names = dict(taken or {})
    used = {name.lower() for name in names.values()}
    for entry in entries:
        asset_id = str(entry["id"])
        if asset_id in names:
            continue
        stem = stem_of(entry.get("title") or entry.get("name") or "") or asset_id[:8]
        extension = extension_of(entry.get("content_type", ""), entry.get("name") or "")
        name = f"{stem}{extension}"
        if name.lower() in used:
            name = f"{stem}-{asset_id[:8]}{extension}"
        counter = 2
        while name.lower() in used:
            name = f"{stem}-{asset_id[:8]}-{counter}{extension}"
            counter += 1
        used.add(name.lower())
        names[asset_id] = name
    return names
