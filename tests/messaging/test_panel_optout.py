"""An agent records an opt-out: "Record opt-out" on the card (a note is required) and "Opt out this
number" on a reply that asks not to be texted (in the conversation and on /outstanding/)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from interactions.models import ConsentEvent, PhoneNumber
from interactions.services import consent_status
from messaging.models import Message
from messaging.selectors import inbound_flagged
from tests.factories import MessageFactory, PhoneNumberFactory, ReplyFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
BROWSER = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "Mozilla/5.0 (Textdesk test)"}
REQUEST = "please don't text me anymore"  # a reply the inbound webhook flagged as a plain-words request


def opt_out_url(phone: PhoneNumber) -> str:
    return reverse("text_consent_opt_out", args=[phone.pk])


def reply_url(reply: Message) -> str:
    return reverse("text_reply_opt_out", args=[reply.pk])


def revokes(phone: PhoneNumber):
    return ConsentEvent.objects.filter(number=phone.number, action=ConsentEvent.Action.REVOKE)


# --- the card: where the action is offered ----------------------------------------------------


def test_card_offers_record_opt_out_for_a_number_with_permission(agent_client, consented_number):
    html = agent_client.get(f"/leads/{consented_number.lead.pk}/").content.decode()
    assert f'id="optout-{consented_number.pk}"' in html
    assert "Record opt-out" in html
    assert "Why must (512) 555-0142 not be texted?" in html


def test_card_offers_no_opt_out_for_a_number_without_permission(agent_client, facility):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550170")
    html = agent_client.get(f"/leads/{phone.lead.pk}/").content.decode()
    assert f'id="optout-{phone.pk}"' not in html
    assert f'id="consent-{phone.pk}"' in html  # "Record text permission" instead


def test_an_other_number_with_permission_has_its_own_record_opt_out(agent_client, consented_number, org):
    from interactions.services import consent_grant

    other = PhoneNumberFactory(lead=consented_number.lead, number="+15125550181", is_primary=False)
    consent_grant(organization=org, number=other.number, source="web_form", evidence="quote form")
    html = agent_client.get(f"/leads/{consented_number.lead.pk}/").content.decode()
    assert f'id="optout-{other.pk}"' in html and f'id="optout-{consented_number.pk}"' in html


# --- "Record opt-out" -------------------------------------------------------------------------


@pytest.mark.parametrize("note", ["", "   "])
def test_record_opt_out_needs_a_note_and_writes_nothing_without_one(agent_client, consented_number, note):
    response = agent_client.post(opt_out_url(consented_number), {"note": note}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Say why this number must not be texted" in html
    assert 'aria-invalid="true"' in html and f'id="optout-error-{consented_number.pk}"' in html
    assert not revokes(consented_number).exists()
    assert consent_status(organization=consented_number.organization, number=consented_number.number).is_granted


def test_record_opt_out_writes_one_agent_revoke_with_the_note_and_reloads_the_card(
    agent_client, consented_number, agent
):
    response = agent_client.post(opt_out_url(consented_number), {"note": "  Asked on the phone  "}, **HX, **BROWSER)
    assert response["HX-Refresh"] == "true"
    event = revokes(consented_number).get()
    assert (event.source, event.actor, event.evidence) == ("agent", agent, "Asked on the phone")
    assert (event.ip_address, event.user_agent) == ("203.0.113.9", "Mozilla/5.0 (Textdesk test)")
    state = consent_status(organization=consented_number.organization, number=consented_number.number)
    assert state.status == "revoked" and not state.person_opted_out


def test_after_record_opt_out_the_card_disables_text_and_offers_permission_again(agent_client, consented_number, agent):
    agent.first_name, agent.last_name = "Alex", "Rivera"
    agent.save()
    agent_client.post(opt_out_url(consented_number), {"note": "Asked on the phone"}, **HX)
    html = agent_client.get(f"/leads/{consented_number.lead.pk}/").content.decode()
    assert "Opt-out recorded for (512) 555-0142." in html  # the flash after the reload
    assert 'aria-label="Text (512) 555-0142: not allowed"' in html
    assert "Text permission for (512) 555-0142 was withdrawn on" in html  # the disabled icon's reason
    assert "Opted out by an agent." in html and "Alex Rivera recorded it: Asked on the phone" in html
    assert f'id="consent-{consented_number.pk}"' in html  # "Record text permission" is offered again
    assert f'id="optout-{consented_number.pk}"' not in html


def test_a_later_agent_grant_works_after_an_agent_opt_out(agent_client, consented_number):
    agent_client.post(opt_out_url(consented_number), {"note": "Asked on the phone"}, **HX)
    response = agent_client.post(
        reverse("text_consent_record", args=[consented_number.pk]), {"note": "Said yes again on the call"}, **HX
    )
    assert response["HX-Refresh"] == "true"
    assert consent_status(organization=consented_number.organization, number=consented_number.number).is_granted
    assert list(ConsentEvent.objects.filter(source="agent").values_list("action", flat=True)) == ["grant", "revoke"]


def test_record_opt_out_without_htmx_redirects_to_the_card_with_the_confirmation(agent_client, consented_number):
    response = agent_client.post(opt_out_url(consented_number), {"note": "Asked on the phone"}, follow=True)
    assert response.redirect_chain[-1][0] == consented_number.lead.get_absolute_url()
    assert "Opt-out recorded for (512) 555-0142." in response.content.decode()


# --- "Opt out this number" on a flagged reply ---------------------------------------------------


def test_conversation_offers_opt_out_on_a_flagged_reply_only(agent_client, consented_number):
    reply = ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True)
    MessageFactory(
        phone_number=consented_number,
        direction=Message.Direction.INBOUND,
        from_number=consented_number.number,
        to_number="+15125550199",
        body="see you at 3",
        status=Message.Status.RECEIVED,
    )
    html = agent_client.get(reverse("text_conversation", args=[consented_number.pk]), **HX).content.decode()
    assert html.count('class="reply-optout"') == 1
    assert f'action="{reply_url(reply)}"' in html


def test_opt_out_from_a_flagged_reply_records_the_reply_as_the_note(agent_client, consented_number, agent):
    reply = ReplyFactory(phone_number=consented_number, flagged=True, body="please stop texting me")
    response = agent_client.post(reply_url(reply), {"next": "/leads/1/"}, **HX, **BROWSER)
    assert response["HX-Refresh"] == "true"
    event = revokes(consented_number).get()
    assert (event.source, event.actor, event.evidence) == ("agent", agent, 'Asked by text: "please stop texting me"')
    assert event.ip_address == "203.0.113.9"


def test_the_flagged_reply_leaves_the_outstanding_list_after_the_opt_out(agent_client, consented_number, org):
    reply = ReplyFactory(phone_number=consented_number, flagged=True, body="no more texts from you guys pls")
    before = agent_client.get(reverse("outstanding_inbound"), **HX).content.decode()
    assert "no more texts from you guys pls" in before and f'action="{reply_url(reply)}"' in before
    assert list(inbound_flagged(org)) == [reply]

    agent_client.post(reply_url(reply), **HX)

    assert list(inbound_flagged(org)) == []
    after = agent_client.get(reverse("outstanding_inbound"), **HX).content.decode()
    assert "no more texts from you guys pls" not in after
    conversation = agent_client.get(reverse("text_conversation", args=[consented_number.pk]), **HX).content.decode()
    assert "the opt-out is recorded" in conversation and 'class="reply-optout"' not in conversation
    card = agent_client.get(f"/leads/{consented_number.lead.pk}/").content.decode()
    assert "Opted out by an agent." in card and "Opted out by agent" in card  # notice and the menu's pill


def test_record_opt_out_on_the_card_also_clears_the_flagged_reply(agent_client, consented_number, org):
    ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True)
    agent_client.post(opt_out_url(consented_number), {"note": "Called back, confirmed: no texts"}, **HX)
    assert list(inbound_flagged(org)) == []


def test_a_second_click_on_a_handled_reply_writes_nothing(agent_client, consented_number):
    reply = ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True)
    agent_client.post(reply_url(reply), **HX)
    agent_client.post(reply_url(reply), **HX)
    assert revokes(consented_number).count() == 1


def test_opt_out_from_the_outstanding_list_without_htmx_returns_there(agent_client, consented_number):
    reply = ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True)
    response = agent_client.post(reply_url(reply), {"next": reverse("outstanding")}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("outstanding")
    assert "Opt-out recorded for (512) 555-0142, as asked by text." in response.content.decode()


def test_opt_out_ignores_a_next_address_on_another_site(agent_client, consented_number):
    reply = ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True)
    response = agent_client.post(reply_url(reply), {"next": "https://evil.example/"})
    assert response["Location"] == consented_number.lead.get_absolute_url()


def test_a_reply_that_was_not_flagged_cannot_be_opted_out_from(agent_client, consented_number):
    reply = ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True)
    Message.objects.filter(pk=reply.pk).update(flagged_opt_out_request=False)
    assert agent_client.post(reply_url(reply), **HX).status_code == 404
    assert not revokes(consented_number).exists()


# --- tenancy and CSRF -----------------------------------------------------------------------------


def test_record_opt_out_of_another_organizations_number_answers_404(agent_client, other_org_number):
    response = agent_client.post(opt_out_url(other_org_number), {"note": "Asked on the phone"}, **HX)
    assert response.status_code == 404
    assert not revokes(other_org_number).exists()


def test_opt_out_from_another_organizations_reply_answers_404(agent_client, other_org_number):
    reply = ReplyFactory(phone_number=other_org_number, body=REQUEST, flagged=True)
    response = agent_client.post(reply_url(reply), **HX)
    assert response.status_code == 404
    assert not revokes(other_org_number).exists()
    assert consent_status(organization=other_org_number.organization, number=other_org_number.number).is_granted


@pytest.mark.parametrize("kind", ["card", "reply"])
def test_opt_out_is_refused_without_a_csrf_token(agent, consented_number, kind):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    target = (
        opt_out_url(consented_number)
        if kind == "card"
        else reply_url(ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True))
    )
    response = client.post(target, {"note": "Asked on the phone"}, **HX)
    assert response.status_code == 403
    assert not revokes(consented_number).exists()


@pytest.mark.parametrize("kind", ["card", "reply"])
def test_opt_out_needs_a_signed_in_agent(client, consented_number, kind):
    target = (
        opt_out_url(consented_number)
        if kind == "card"
        else reply_url(ReplyFactory(phone_number=consented_number, body=REQUEST, flagged=True))
    )
    response = client.post(target, {"note": "Asked on the phone"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not revokes(consented_number).exists()
