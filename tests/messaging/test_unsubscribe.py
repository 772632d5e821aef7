"""/u/<token> (docs/ARCHITECTURE.md rule 5): GET only asks, POST opts out; both idempotent; no login needed."""

from __future__ import annotations

import pytest
from django.test import Client

from interactions.models import ConsentEvent
from interactions.services import consent_revoke, consent_status
from messaging.services import message_queue, unsubscribe_link_get_or_create


@pytest.fixture
def link(consented_number):
    return unsubscribe_link_get_or_create(organization=consented_number.organization, number=consented_number.number)


@pytest.fixture
def public() -> Client:
    return Client(enforce_csrf_checks=True)


def test_the_link_in_a_text_opens_the_confirm_page(consented_number, agent, open_all_day, public):
    message = message_queue(phone_number=consented_number, sent_by=agent, body="Hi")
    url = message.body.rsplit("\n", 1)[1].removeprefix("Unsubscribe: ")
    response = public.get(url.removeprefix("https://textdesk.test"))
    assert response.status_code == 200
    assert "Stop texts from Lakeside Storage?" in response.content.decode()


def test_get_shows_the_organization_and_does_not_opt_out(link, public):
    for _ in range(3):  # link scanners and previews fetch it
        response = public.get(f"/u/{link.token}")
        page = response.content.decode()
        assert response.status_code == 200
        assert "Stop texts from Lakeside Storage?" in page
        assert "•••-•••-0142" in page
        assert "555-0142" not in page.replace("•••-•••-0142", "")  # the number is masked
        assert '<form method="post"' in page
    assert consent_status(organization=link.organization, number=link.number).is_granted
    assert not ConsentEvent.objects.filter(source="unsubscribe_link").exists()
    assert response["Cache-Control"].startswith("max-age=0")
    assert 'name="viewport"' in page


def test_post_opts_the_number_out_with_ip_and_user_agent(link, public):
    response = public.post(f"/u/{link.token}", REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="Mobile Safari")
    assert response.status_code == 200
    assert "You’re unsubscribed" in response.content.decode()
    state = consent_status(organization=link.organization, number=link.number)
    assert (state.status, state.source, state.person_opted_out) == ("revoked", "unsubscribe_link", True)
    event = ConsentEvent.objects.get(source="unsubscribe_link")
    assert (event.action, event.ip_address, event.user_agent) == ("revoke", "198.51.100.7", "Mobile Safari")
    assert link.token in event.evidence
    link.refresh_from_db()
    assert link.used_at is not None


def test_post_twice_writes_one_event_and_says_the_same(link, public):
    first = public.post(f"/u/{link.token}")
    second = public.post(f"/u/{link.token}")
    assert first.status_code == second.status_code == 200
    assert "You’re unsubscribed" in second.content.decode()
    assert ConsentEvent.objects.filter(source="unsubscribe_link").count() == 1


def test_after_opting_out_get_says_so_without_a_form(link, public):
    public.post(f"/u/{link.token}")
    page = public.get(f"/u/{link.token}").content.decode()
    assert "already unsubscribed" in page
    assert "<form" not in page


def test_a_stop_already_on_file_is_not_recorded_again(link, public):
    consent_revoke(organization=link.organization, number=link.number, source="sms_keyword")
    public.post(f"/u/{link.token}")
    assert not ConsentEvent.objects.filter(source="unsubscribe_link").exists()


def test_the_link_records_the_persons_opt_out_after_an_agent_revoke(link, public):
    consent_revoke(organization=link.organization, number=link.number, source="agent", evidence="asked")
    public.post(f"/u/{link.token}")
    state = consent_status(organization=link.organization, number=link.number)
    assert (state.source, state.person_opted_out) == ("unsubscribe_link", True)


def test_after_the_link_no_agent_can_grant_again_and_texts_are_refused(link, public, consented_number, agent):
    from core.errors import ServiceError
    from interactions.services import consent_grant

    public.post(f"/u/{link.token}")
    with pytest.raises(ServiceError) as caught:
        consent_grant(organization=link.organization, number=link.number, source="agent", evidence="verbal")
    assert caught.value.code == "opted_out"
    with pytest.raises(ServiceError) as caught:
        message_queue(phone_number=consented_number, sent_by=agent, body="Hi")
    assert caught.value.code == "opted_out"


@pytest.mark.parametrize("token", ["doesNotExist12345", "x"])
def test_an_unknown_token_gets_a_friendly_404(db, public, token):
    for response in (public.get(f"/u/{token}"), public.post(f"/u/{token}")):
        assert response.status_code == 404
        assert "We couldn’t find this link" in response.content.decode()
        assert "STOP" in response.content.decode()
    assert not ConsentEvent.objects.exists()


def test_a_trailing_slash_is_accepted(link, public):
    assert public.get(f"/u/{link.token}/").status_code == 200


def test_the_token_is_random_base62_without_personal_data(link):
    assert len(link.token) >= 10 and link.token.isalnum() and link.token.isascii()
    assert "0142" not in link.token
    other = unsubscribe_link_get_or_create(organization=link.organization, number="+15125550143")
    assert other.token != link.token


def test_signed_in_staff_cannot_opt_a_person_out_in_their_name(link, agent_client, consented_number):
    for method in (agent_client.get, agent_client.post):
        response = method(f"/u/{link.token}")
        assert response.status_code == 403
        assert "This link is for the person who was texted" in response.content.decode()

    assert not ConsentEvent.objects.filter(action=ConsentEvent.Action.REVOKE).exists()
    assert not consent_status(organization=link.organization, number=link.number).is_revoked
