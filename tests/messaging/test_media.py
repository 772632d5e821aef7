"""Pictures (MMS): checked by their content, stored without metadata, within Twilio's limits."""

from __future__ import annotations

import hashlib

import pytest

from core.errors import ServiceError
from messaging.models import Media
from messaging.services import media_create, media_for_message, message_queue
from tests.pictures import GPS_IFD, ORIENTATION, jpeg, opened, png, png_claiming

pytestmark = pytest.mark.django_db


def test_a_phone_photo_is_stored_without_its_location_or_camera_details(org, agent):
    photo = jpeg(gps=True)
    assert opened(photo).getexif().get_ifd(GPS_IFD)  # the upload carries a location

    media = media_create(organization=org, file=photo, name="IMG_0001.jpg", created_by=agent)

    stored = media.file.read()
    assert media.content_type == "image/jpeg" and (media.width, media.height) == (64, 48)
    assert media.size == len(stored) and media.sha256 == hashlib.sha256(stored).hexdigest()
    exif = opened(stored).getexif()
    assert not exif.get_ifd(GPS_IFD) and GPS_IFD not in exif and 0x010F not in exif
    assert b"PhoneMaker" not in stored
    assert media.created_by == agent and media.organization == org


def test_a_sideways_photo_is_stood_upright_before_its_orientation_tag_goes(org):
    media = media_create(organization=org, file=jpeg(64, 48, orientation=6), name="sideways.jpg")
    assert (media.width, media.height) == (48, 64)
    assert ORIENTATION not in opened(media.file.read()).getexif()


def test_a_text_file_renamed_png_is_refused_with_a_clear_error(org):
    with pytest.raises(ServiceError) as refused:
        media_create(organization=org, file=b"%PDF-1.7 not a picture at all", name="unit-photo.png")
    assert refused.value.code == "not_a_picture" and refused.value.field == "file"
    assert "“unit-photo.png” is not a picture" in refused.value.message
    assert "JPEG, PNG, GIF or WebP" in refused.value.message
    assert not Media.objects.exists()


def test_the_type_comes_from_the_content_not_the_name(org):
    media = media_create(organization=org, file=png(), name="looks-like.jpg")
    assert media.content_type == "image/png" and media.file.name.endswith(".png")


def test_a_decompression_bomb_is_refused_before_it_is_decoded(org):
    with pytest.raises(ServiceError) as refused:
        media_create(organization=org, file=png_claiming(50_000, 50_000), name="bomb.png")
    assert refused.value.code in ("picture_too_large", "not_a_picture")
    assert "50,000×50,000" in refused.value.message or "not a picture" in refused.value.message


def test_a_texts_pictures_are_refused_over_twilios_5_mb_together(org):
    first, second = media_create(organization=org, file=jpeg()), media_create(organization=org, file=png())
    Media.objects.filter(pk__in=[first.pk, second.pk]).update(size=3 * 1024 * 1024)
    first.refresh_from_db(), second.refresh_from_db()
    with pytest.raises(ServiceError) as refused:
        media_for_message(organization=org, media=[first, second])
    assert refused.value.code == "pictures_too_large" and "5 MB" in refused.value.message


def test_more_than_five_pictures_are_refused(org):
    pictures = [
        media_create(organization=org, file=jpeg(color=c)) for c in ("red", "green", "blue", "gray", "pink", "navy")
    ]
    with pytest.raises(ServiceError) as refused:
        media_for_message(organization=org, media=pictures)
    assert refused.value.code == "too_many_pictures"


def test_another_organizations_picture_cannot_go_with_a_text(consented_number, other_org, agent, open_all_day):
    theirs = media_create(organization=other_org, file=jpeg())
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=consented_number, sent_by=agent, body="Your unit", media=[theirs])
    assert refused.value.status == 404 and refused.value.field == "media"


def test_an_mms_is_one_message_and_keeps_every_refusal(
    consented_number, agent, open_all_day, outbox, django_capture_on_commit_callbacks
):
    picture = media_create(organization=consented_number.organization, file=jpeg())
    long_text = "Your unit B204 is ready. " * 20  # four segments as an SMS
    with django_capture_on_commit_callbacks(execute=True):
        message = message_queue(phone_number=consented_number, sent_by=agent, body=long_text, media=[picture])
    message.refresh_from_db()
    assert message.media_count == 1 and message.segments == 1
    assert [row.media for row in message.attachments.all()] == [picture]
    assert {row.organization_id for row in message.attachments.all()} == {message.organization_id}
    assert "/u/" in message.body  # the unsubscribe link, as on every text
    assert len(outbox) == 1 and len(outbox[0]["media_urls"]) == 1

    from interactions.services import consent_revoke

    consent_revoke(organization=consented_number.organization, number=consented_number.number, source="agent",
                   evidence="asked on the phone", actor=agent)  # fmt: skip
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=consented_number, sent_by=agent, body="Another", media=[picture])
    assert refused.value.code == "no_consent"


def _storage_in_a_fresh_process(**env: str):
    import os
    import subprocess
    import sys

    code = (
        "import django; django.setup();"
        "from django.core.files.storage import storages; s = storages['default'];"
        "print(type(s).__module__ + '.' + type(s).__name__, getattr(s, 'bucket_name', ''),"
        " getattr(s, 'endpoint_url', ''), getattr(s, 'default_acl', ''), getattr(s, 'file_overwrite', ''))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEDIA_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_media_storage_s3_stores_pictures_in_the_configured_bucket_through_django_storages():
    done = _storage_in_a_fresh_process(
        MEDIA_STORAGE="s3", AWS_STORAGE_BUCKET_NAME="textdesk-pictures", AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "storages.backends.s3.S3Storage", "textdesk-pictures", "http://127.0.0.1:9000", "None", "False"
    ]  # fmt: skip
    default = _storage_in_a_fresh_process()
    assert default.stdout.split()[0] == "django.core.files.storage.filesystem.FileSystemStorage"
    wrong = _storage_in_a_fresh_process(MEDIA_STORAGE="ftp")
    assert wrong.returncode != 0 and "MEDIA_STORAGE must be 'filesystem' or 's3'" in wrong.stderr
