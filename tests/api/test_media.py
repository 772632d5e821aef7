"""The pictures API: upload (multipart), read back, send with a text, and see them on the text."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from messaging.models import Media
from tests.pictures import GPS_IFD, jpeg, opened, png

pytestmark = pytest.mark.django_db


def _upload(api, data: bytes, name: str = "unit.jpg"):
    return api.post("/api/v1/media/", {"file": SimpleUploadedFile(name, data)}, format="multipart")


def test_an_upload_answers_its_id_type_size_and_dimensions(api, settings):
    response = _upload(api, jpeg(320, 200, gps=True), name="IMG_0042.JPG")

    assert response.status_code == 201, response.content
    body = response.json()
    media = Media.objects.get(pk=body["id"])
    assert body["type"] == "image/jpeg" and (body["width"], body["height"]) == (320, 200)
    assert body["size"] == media.size > 0
    assert body["url"] == f"{settings.PUBLIC_BASE_URL}/api/v1/media/{media.pk}/content/"
    content = api.get(f"/api/v1/media/{media.pk}/content/")
    assert content.status_code == 200 and content["Content-Type"] == "image/jpeg"
    assert content["X-Content-Type-Options"] == "nosniff" and content["Cache-Control"].startswith("private")
    assert not opened(b"".join(content.streaming_content)).getexif().get_ifd(GPS_IFD)


def test_a_non_picture_renamed_png_is_refused_with_a_clear_error(api):
    response = _upload(api, b"#!/bin/sh\necho not a picture\n", name="photo.png")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "not_a_picture" and body["field"] == "file"
    assert "“photo.png” is not a picture" in body["detail"]
    assert not Media.objects.exists()


def test_an_upload_without_a_file_names_the_field(api):
    response = api.post("/api/v1/media/", {}, format="multipart")
    assert response.status_code == 400 and "file" in response.content.decode()


def test_a_text_sent_with_pictures_lists_them_with_authenticated_links(
    api, consented_number, open_all_day, django_capture_on_commit_callbacks, outbox
):
    first, second = _upload(api, jpeg()).json(), _upload(api, png(), name="map.png").json()

    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(
            "/api/v1/messages/",
            {
                "phone_number": consented_number.pk,
                "body": "Your unit and the gate map",
                "media": [second["id"], first["id"]],
            },
            format="json",
        )

    assert sent.status_code == 201, sent.content
    assert [m["id"] for m in sent.json()["media"]] == [second["id"], first["id"]]  # in the order given
    assert sent.json()["segments"] == 1
    read = api.get(f"/api/v1/messages/{sent.json()['id']}/").json()
    listed = api.get("/api/v1/messages/").json()["results"][0]
    assert read["media"] == listed["media"] == sent.json()["media"]
    assert read["media"][0] == {k: second[k] for k in ("id", "type", "size", "width", "height", "url")}
    assert len(outbox[-1]["media_urls"]) == 2
    anonymous = api.__class__().get(read["media"][0]["url"].replace("https://textdesk.test", ""))
    assert anonymous.status_code == 401


def test_six_pictures_or_another_organizations_are_refused_by_field(api, consented_number, open_all_day, other_org):
    from messaging.services import media_create

    mine = [_upload(api, jpeg(color=c)).json()["id"] for c in ("red", "green", "blue", "gray", "pink", "navy")]
    theirs = media_create(organization=other_org, file=jpeg()).pk

    too_many = api.post(
        "/api/v1/messages/", {"phone_number": consented_number.pk, "body": "Hi", "media": mine}, format="json"
    )
    foreign = api.post(
        "/api/v1/messages/", {"phone_number": consented_number.pk, "body": "Hi", "media": [theirs]}, format="json"
    )

    assert too_many.status_code == 400 and "media" in too_many.json()["errors"]
    assert foreign.status_code == 400 and "media" in foreign.json()["errors"]
