"""Pictures (MMS): checking and storing an upload or a received picture, and attaching pictures to a text.

A picture's type is what Pillow reads in its content, never its name or declared type. It is
stored re-encoded without metadata, so a phone photo's EXIF (its GPS location, the camera, the
time) never leaves with a text. The limits are Twilio's: at most 5 MB for all the pictures of one
text, and at most 10 pictures (Textdesk allows 5, as the panel offers)
(https://www.twilio.com/docs/messaging/guides/accepted-mime-types).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO

from django.contrib.auth.models import AnonymousUser, User
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import ServiceError
from interactions.models import Organization

from ..backends import MediaFetchFailed, provider_media_delete, provider_media_fetch
from ..models import Media, Message, MessageMedia

# Twilio's limit for one text's pictures together (accepted-mime-types guide, "Size limits").
MAX_BYTES_PER_MESSAGE = 5 * 1024 * 1024
MAX_PICTURES_PER_MESSAGE = 5  # Twilio takes 10; the panel and the API offer 5, as storEDGE does
# An upload larger than this is not read at all (a phone photo is 2–8 MB; it is stored re-encoded).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Decompression bombs: a small file that unpacks into a huge image. Refused before decoding.
MAX_PIXELS = 40_000_000  # a 48-megapixel phone photo is 8000×6000; beyond that nobody texts it
MAX_FRAMES = 200  # animated GIF/WebP: pixels × frames is what decoding costs

# Pillow's format name -> the type stored and sent. JPEG, PNG and GIF are the types Twilio formats
# for delivery on every handset; WebP it accepts and passes on.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
ACCEPTED_WORDS = "JPEG, PNG, GIF or WebP"


@dataclass(frozen=True)
class _Encoded:
    data: bytes
    content_type: str
    width: int
    height: int


def _refuse(code: str, message: str) -> ServiceError:
    return ServiceError(code, message, field="file")


def _open(data: bytes, *, name: str) -> Image.Image:
    """The picture in ``data``, its header read; refused when it is not one we send, or is a bomb."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError, OSError) as exc:
        raise _refuse(
            "not_a_picture",
            f"“{name}” is not a picture Textdesk can send: send a {ACCEPTED_WORDS} image "
            "(the file's content decides, not its name).",
        ) from exc
    frames = getattr(image, "n_frames", 1)
    if image.width * image.height > MAX_PIXELS or image.width * image.height * frames > MAX_PIXELS * 4:
        raise _refuse(
            "picture_too_large",
            f"“{name}” is {image.width:,}×{image.height:,} pixels"
            + (f" in {frames} frames" if frames > 1 else "")
            + f"; pictures can be at most {MAX_PIXELS // 1_000_000} megapixels.",
        )
    if frames > MAX_FRAMES:
        raise _refuse("picture_too_large", f"“{name}” has {frames} frames; at most {MAX_FRAMES}.")
    return image


def _bare(frame: Image.Image) -> Image.Image:
    """The frame's pixels (and palette) in a new image: none of the file's metadata comes along."""
    frame.load()
    bare = Image.frombytes(frame.mode, frame.size, frame.tobytes())
    if frame.mode in ("P", "PA") and (palette := frame.getpalette()) is not None:
        bare.putpalette(palette)
    if "transparency" in frame.info and not isinstance(frame.info["transparency"], bytes | str):
        bare.info["transparency"] = frame.info["transparency"]
    return bare


def _reencoded(image: Image.Image, *, name: str) -> _Encoded:
    """The picture encoded again from its pixels alone: no EXIF, XMP, ICC, comments or text chunks.

    A JPEG's orientation tag is applied to the pixels first, so the picture still stands upright
    once the tag is gone.
    """
    fmt = image.format or ""
    out = io.BytesIO()
    try:
        if fmt == "JPEG":
            upright = _bare(ImageOps.exif_transpose(image))
            if upright.mode not in ("RGB", "L", "CMYK"):
                upright = upright.convert("RGB")
            upright.save(out, format="JPEG", quality=90, optimize=True)
            width, height = upright.size
        elif getattr(image, "n_frames", 1) > 1:  # animated GIF or WebP
            durations = []
            frames = []
            for frame in _frames(image):
                durations.append(frame.info.get("duration", 100))
                frames.append(_bare(frame.convert("RGBA") if fmt == "WEBP" else frame))
            frames[0].save(
                out,
                format=fmt,
                save_all=True,
                append_images=frames[1:],
                loop=image.info.get("loop", 0),
                duration=durations,
            )
            width, height = image.size
        else:
            clean = _bare(image)
            params = {"transparency": clean.info["transparency"]} if "transparency" in clean.info else {}
            clean.save(out, format=fmt, **params)
            width, height = clean.size
    except (OSError, ValueError, SyntaxError) as exc:  # a truncated or corrupt file fails while decoding
        raise _refuse("not_a_picture", f"“{name}” is damaged and cannot be read as a picture.") from exc
    return _Encoded(data=out.getvalue(), content_type=FORMATS[fmt], width=width, height=height)


def _frames(image: Image.Image) -> Iterable[Image.Image]:
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        yield image


def _read(file: IO[bytes] | bytes, *, name: str) -> bytes:
    data = file if isinstance(file, bytes) else file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise _refuse(
            "picture_too_large", f"“{name}” is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; send a smaller picture."
        )
    if not data:
        raise _refuse("not_a_picture", f"“{name}” is empty.")
    return data


def media_check(*, file: IO[bytes] | bytes, name: str = "picture") -> _Encoded:
    """The picture re-encoded without metadata, or the ``ServiceError`` ``media_create`` would refuse it with."""
    data = _read(file, name=name)
    image = _open(data, name=name)
    encoded = _reencoded(image, name=name)
    if len(encoded.data) > MAX_BYTES_PER_MESSAGE:
        raise _refuse(
            "picture_too_large",
            f"“{name}” is {len(encoded.data) / (1024 * 1024):.1f} MB; a text's pictures can be at most 5 MB together.",
        )
    return encoded


def media_create(
    *,
    organization: Organization,
    file: IO[bytes] | bytes,
    name: str = "picture",
    created_by: User | AnonymousUser | None = None,
    source: str = Media.Source.UPLOAD,
    provider_sid: str = "",
) -> Media:
    """Check a picture by its content and store it re-encoded without metadata; the ``Media`` row.

    Refused with a ``ServiceError`` (``field="file"``, nothing stored) when it is not a JPEG,
    PNG, GIF or WebP image whatever its name says (``not_a_picture``), is over the pixel or
    frame limits (a decompression bomb) or, once stored, over Twilio's 5 MB for one text
    (``picture_too_large``).
    """
    encoded = media_check(file=file, name=name)
    media = Media(
        organization=organization,
        source=source,
        content_type=encoded.content_type,
        size=len(encoded.data),
        width=encoded.width,
        height=encoded.height,
        sha256=hashlib.sha256(encoded.data).hexdigest(),
        created_by=created_by if isinstance(created_by, User) else None,
        provider_sid=provider_sid,
    )
    # The file first (storage is not transactional); the row only once the file is there.
    media.file.save("picture", ContentFile(encoded.data), save=False)
    try:
        media.save()
    except BaseException:
        media.file.delete(save=False)
        raise
    return media


def media_for_message(*, organization: Organization, media: Sequence[Media]) -> list[Media]:
    """``media`` checked for one text: the organization's own, each once, at most 5, at most 5 MB in all.

    A picture may go with any number of texts (a template's picture goes with every text of it).
    """
    chosen = list(dict.fromkeys(media))
    if len(chosen) > MAX_PICTURES_PER_MESSAGE:
        raise ServiceError(
            "too_many_pictures", f"A text can carry at most {MAX_PICTURES_PER_MESSAGE} pictures.", field="media"
        )
    for item in chosen:
        if item.organization_id != organization.pk:
            raise ServiceError("not_found", "That picture does not exist.", field="media", status=404)
    total = sum(item.size for item in chosen)
    if total > MAX_BYTES_PER_MESSAGE:
        raise ServiceError(
            "pictures_too_large",
            f"The pictures are {total / (1024 * 1024):.1f} MB together; a text's pictures can be at most 5 MB "
            "(the carriers' limit). Leave one out.",
            field="media",
        )
    return chosen


@transaction.atomic
def message_media_attach(*, message: Message, media: Sequence[Media]) -> None:
    """Attach ``media`` to ``message`` after those it has, in order, and count them on the text."""
    start = message.attachments.count()
    MessageMedia.objects.bulk_create(
        MessageMedia(organization_id=message.organization_id, message=message, media=item, position=start + index)
        for index, item in enumerate(media)
    )
    if message.media_count < start + len(media):
        Message.objects.filter(pk=message.pk).update(media_count=start + len(media))
        message.media_count = start + len(media)


def message_media(message: Message) -> list[Media]:
    """The pictures of ``message``, in the order they are sent (none read for a plain SMS)."""
    if not message.media_count:
        return []
    return [row.media for row in message.attachments.select_related("media").order_by("position")]


# --- received pictures ------------------------------------------------------------------------


def _media_sid(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1][:64]


def _note_on_text(message: Message, note: str) -> None:
    """Say on a received text what became of an attachment (kept once; the panel shows it)."""
    if note in message.error_message:
        return
    message.error_message = f"{message.error_message} {note}".strip()[:500]
    Message.objects.filter(pk=message.pk).update(error_message=message.error_message)


def _provider_delete(media: Media, url: str) -> None:
    """Delete the picture at the provider now that it is stored here, and record when (or why not)."""
    try:
        provider_media_delete(url)
    except MediaFetchFailed as exc:
        media.provider_delete_error = str(exc)[:300]
        media.save(update_fields=["provider_delete_error"])
        raise
    media.provider_deleted_at, media.provider_delete_error = timezone.now(), ""
    media.save(update_fields=["provider_deleted_at", "provider_delete_error"])


def inbound_media_fetch(*, message_id: int, urls: Sequence[str], last_try: bool = False) -> bool:
    """Fetch, check and store each picture of a received MMS, attach it in order, then delete it at the provider.

    Safe to run again: a position already attached is not fetched again (only its deletion at the
    provider is tried again if it failed). An attachment that is not a picture (a video, a
    contact card) is not kept; it is deleted at the provider too, and the text says so. A
    MediaUrl off the provider's API host is never fetched. Returns True when something failed
    that is worth trying again later (the provider unreachable); on the ``last_try`` that failure
    is said on the text too, so the thread stops waiting for the picture.
    """
    message = Message.objects.select_related("organization").get(pk=message_id)
    attached = {row.position: row.media for row in message.attachments.select_related("media")}
    retry = False
    for position, url in enumerate(urls):
        try:
            media = attached.get(position)
            if media is None:
                media = _fetch_one(message, url, position=position)
            if media is not None and media.provider_deleted_at is None:
                _provider_delete(media, url)
        except MediaFetchFailed as exc:
            retry = retry or exc.retryable
            if not exc.retryable or last_try:
                _note_on_text(message, f"Picture {position + 1} was not fetched: {exc}")
    return retry


def _fetch_one(message: Message, url: str, *, position: int) -> Media | None:
    data, declared = provider_media_fetch(url)
    try:
        media = media_create(
            organization=message.organization,
            file=data,
            name=f"picture {position + 1}",
            source=Media.Source.INBOUND,
            provider_sid=_media_sid(url),
        )
    except ServiceError as exc:
        kind = (declared or "an attachment").split(";")[0].strip()
        _note_on_text(message, f"Attachment {position + 1} ({kind}) was not kept: {exc.message}")
        provider_media_delete(url)
        return None
    with transaction.atomic():
        MessageMedia.objects.create(
            organization_id=message.organization_id, message=message, media=media, position=position
        )
        # The thread's live poll sees the text changed and shows the picture.
        Message.objects.filter(pk=message.pk).update(updated_at=timezone.now())
    return media
