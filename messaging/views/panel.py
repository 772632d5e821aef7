"""The card's text panel: open it, count as you type, pick a template, send, follow the conversation.

Also the panel's answers to a reply that asks not to be texted: "opt out this number" and "not a
request". (The phone menu's Add New and its consent forms are the CRM's: ``interactions/views.py``.)
Every view resolves its phone number, template, reply or record inside the signed-in agent's
organization (404 otherwise) and calls the same services as the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh, trigger_client_event

from core.errors import ServiceError
from core.formats import display_moment
from core.http import request_evidence
from core.parsing import strict_id
from core.phonenumbers import readable
from core.redirects import safe_next
from core.tenancy import require_organization
from interactions.models import ConsentEvent, PhoneNumber
from interactions.selectors import owner_numbers, phone_number_for
from interactions.services import consent_revoke

from ..backends import UNREACHABLE_REASONS
from ..compliance.engine import recipient_time_zone
from ..models import Message, MessageTemplate
from ..rendering import merge_field_problem
from ..segments import MAX_CHARACTERS, is_gsm7
from ..selectors import (
    active_templates_for,
    flagged_reply_for,
    inbound_flagged,
    open_requests,
    person_text_for,
    person_thread,
    scheduled_texts,
    template_for,
    texting_state,
    thread_messages,
    thread_version,
)
from ..services import (
    consent_refusal,
    conversation_mark_read,
    message_cancel,
    message_preview,
    message_queue,
    reply_flag_dismiss,
    template_body_for,
)

SENT_EVENT = "textdesk:sent"  # the conversation listens for it and refreshes at once


def _phone_or_404(request: HttpRequest, pk: int) -> PhoneNumber:
    phone = phone_number_for(organization=require_organization(request), pk=pk)
    if phone is None:
        raise Http404("No such phone number in your organization.")
    return phone


def _phone_with_numbers_or_404(request: HttpRequest, pk: int) -> tuple[PhoneNumber, list[PhoneNumber]]:
    """The phone number (as ``_phone_or_404``) and all its owner's numbers with consent: the
    number's own consent is taken from those, not read a second time."""
    phone = phone_number_for(organization=require_organization(request), pk=pk, consent=False)
    if phone is None:
        raise Http404("No such phone number in your organization.")
    numbers = owner_numbers(owner=phone.owner)
    phone.consent = next(n.consent for n in numbers if n.pk == phone.pk)
    return phone, numbers


def _body(request: HttpRequest) -> str:
    # Browsers submit textarea line breaks as CRLF; a text counts each break as one character.
    return request.POST.get("body", "").replace("\r\n", "\n")


def _compose_context(request: HttpRequest, phone: PhoneNumber, *, body: str = "", template_id: Any = "") -> dict:
    draft = message_preview(phone_number=phone, body=body, agent=request.user)
    return {
        "phone": phone,
        "person": phone.owner,
        "body": body,
        "template_id": template_id,
        "draft": draft,
        "ucs2_culprits": _ucs2_culprits(draft.text) if draft.measure.encoding == "UCS-2" else [],
        **_counter_figures(draft.measure.characters),
    }


def _counter_figures(characters: int) -> dict:
    return {"limit": MAX_CHARACTERS, "over": characters - MAX_CHARACTERS, "left": MAX_CHARACTERS - characters}


def _ucs2_culprits(text: str, limit: int = 3) -> list[str]:
    """The first few characters that push a text out of GSM-7, shown so the agent can swap them."""
    found: list[str] = []
    for ch in text:
        if not is_gsm7(ch) and ch not in found:
            found.append(ch)
    return [
        ("a non-breaking space" if ch == "\u00a0" else "an unusual space") if ch.isspace() else f"“{ch}”"
        for ch in found[:limit]
    ]


def _template_choices(request: HttpRequest, phone: PhoneNumber) -> list[dict]:
    """Active templates, each with its text as this person would receive it (or why it can't be used)."""
    choices = []
    for template in active_templates_for(organization=phone.organization):
        item = {"template": template, "category_label": template.get_category_display(), "preview": "", "problem": ""}
        missing = merge_field_problem(template.body, person=phone.owner)
        if missing:
            item["problem"] = missing
            choices.append(item)
            continue
        try:
            item["preview"] = template_body_for(template=template, phone_number=phone, agent=request.user)
        except ServiceError as exc:
            item["problem"] = f"Can’t be used: {exc.message}"
        choices.append(item)
    return _usable_first(choices)


def _usable_first(choices: list[dict]) -> list[dict]:
    """Categories with a template this person can get first (a lead's follow-ups before the collection
    templates it can't use), and within each category the usable ones before the greyed-out ones.
    Stable: the managers' own order holds otherwise."""
    usable = {item["category_label"] for item in choices if not item["problem"]}
    first_seen = {label: i for i, label in reversed(list(enumerate(item["category_label"] for item in choices)))}
    return sorted(
        choices,
        key=lambda item: (
            item["category_label"] not in usable,
            first_seen[item["category_label"]],
            bool(item["problem"]),
        ),
    )


def _conversation_context(
    phone: PhoneNumber,
    numbers: list[PhoneNumber] | None = None,
    *,
    version: str | None = None,
    in_panel: bool = True,
) -> dict:
    """The person's whole thread (every number, texts and events), as the card and the panel show it.

    ``numbers``: the owner's numbers with consent (``owner_numbers``), and ``version``: the thread's
    ``thread_version``, when the caller has them (the same fingerprint as from the texts read here).
    ``in_panel``: the panel also lists the texts still scheduled, each with Cancel."""
    person = phone.owner
    if numbers is None:
        numbers = owner_numbers(owner=person)
    texts = thread_messages(person=person, numbers=numbers)  # one read for the thread and its version
    thread = person_thread(person=person, numbers=numbers, messages=texts)
    waiting = open_requests(organization=phone.organization, numbers=numbers)
    waiting_ids = {m.pk for m in waiting.values()}
    for number in numbers:
        if number.pk == phone.pk:
            phone.consent = number.consent
    return {
        "phone": phone,
        "person": person,
        "numbers": numbers,
        "thread": thread,
        "waiting_ids": waiting_ids,
        "version": version or thread_version(person=person, numbers=numbers, messages=texts),
        "others": [n for n in numbers if n.pk != phone.pk],
        # Failures that mean "this number is wrong or unreachable": the card suggests the record's other numbers.
        "unreachable_reasons": UNREACHABLE_REASONS,
        "labels": PhoneNumber.Label.choices,
        "scheduled": scheduled_texts(person=person, numbers=numbers) if in_panel else [],
        **_state_context(phone, numbers, waiting),
    }


def _state_context(phone: PhoneNumber, numbers: list[PhoneNumber], waiting: dict) -> dict:
    """What the panel header says: their local time, whether they can be texted now and why not."""
    request_here = waiting.get(phone.e164)
    state = texting_state(phone=phone, open_request=request_here)
    others_waiting = [
        (n, waiting[n.e164]) for n in numbers if n.pk != phone.pk and n.e164 in waiting and n.consent.is_granted
    ]
    return {
        "state": state,
        # The thread's times are written in the zone the header and the refusals use (the number's).
        "zone": state.local_time.tzinfo,
        "open_request": request_here,
        "others_waiting": others_waiting,
        "sendable": phone.consent.is_granted and request_here is None,
    }


def _panel_context(
    request: HttpRequest,
    phone: PhoneNumber,
    *,
    body: str = "",
    template_id: Any = "",
    task: str = "",
    error: ServiceError | None = None,
    template_error: ServiceError | None = None,
    numbers: list[PhoneNumber] | None = None,
) -> dict:
    context = _compose_context(request, phone, body=body, template_id=template_id)
    context.update(_conversation_context(phone, numbers))
    context.update(
        task=task,
        # Opened from a workflow task ("Open & text"): the workflows' view sends and completes it.
        send_url=reverse("task_text_send", args=[task_id, phone.pk])
        if (task_id := strict_id(task)) is not None
        else reverse("text_send", args=[phone.pk]),
        error=error,
        template_error=template_error,
        next_allowed_at=error.extra.get("next_allowed_at") if error else None,
        consent_problem=consent_refusal(phone.consent, phone_number=phone),
        templates=_template_choices(request, phone),
        # make run's "Simulate a reply" (messaging/views/demo.py): only with DEBUG on.
        demo_replies=settings.DEBUG,
    )
    return context


@login_required
@require_GET
def panel(request: HttpRequest, phone_id: int) -> HttpResponse:
    """Open the text panel for one number; ``?template=`` pre-fills it, ``?task=`` rides along to send.

    The response also switches the card's conversation to this number.
    """
    phone, numbers = _phone_with_numbers_or_404(request, phone_id)
    body, template_id, template_error = "", "", None
    if request.GET.get("template") and phone.consent.is_granted:
        template = template_for(organization=phone.organization, pk=request.GET["template"])
        try:
            if template is None:
                raise ServiceError("not_found", "That template does not exist.", field="template")
            body = template_body_for(template=template, phone_number=phone, agent=request.user)
            template_id = template.pk
        except ServiceError as exc:
            template_error = exc
    context = _panel_context(
        request,
        phone,
        body=body,
        template_id=template_id,
        task=request.GET.get("task", ""),
        template_error=template_error,
        numbers=numbers,
    )
    # The panel shows the whole thread: the person's replies are read now (not when the card opened).
    conversation_mark_read(person=phone.owner, user=request.user)
    return render(request, "messaging/panel.html", context)


@login_required
@require_POST
def preview(request: HttpRequest, phone_id: int) -> HttpResponse:
    """The live counter: characters, encoding and segments of the final text, link included."""
    phone = _phone_or_404(request, phone_id)
    return render(request, "messaging/_counter.html", _compose_context(request, phone, body=_body(request)))


@login_required
@require_GET
def template_choose(request: HttpRequest, phone_id: int) -> HttpResponse:
    """A template rendered for this person, as JSON: ``{"template", "name", "text"}``, or ``{"error"}`` (400).

    The panel (textpanel.js) inserts the text at the cursor of the message, with an Undo: a pick never
    silently replaces what the agent typed.
    """
    phone = _phone_or_404(request, phone_id)
    template = template_for(organization=phone.organization, pk=request.GET.get("template"))
    if template is None:
        raise Http404("No such template in your organization.")
    try:
        body = template_body_for(template=template, phone_number=phone, agent=request.user)
    except ServiceError as exc:
        return JsonResponse({"error": exc.message, "code": exc.code}, status=400)
    return JsonResponse({"template": template.pk, "name": template.name, "text": body})


def _template_if_unchanged(request: HttpRequest, phone: PhoneNumber, body: str) -> MessageTemplate | None:
    """The chosen template when the agent sent its text as rendered; edited text goes as typed."""
    template = template_for(organization=phone.organization, pk=request.POST.get("template"))
    if template is None or not template.active:
        return None
    try:
        rendered = template_body_for(template=template, phone_number=phone, agent=request.user)
    except ServiceError:
        return None
    return template if rendered.strip() == body.strip() else None


def _parse_send_at(raw: str):
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:  # well-formed but impossible, like 2026-13-45T99:99
        value = None
    if value is None:
        raise ServiceError("invalid_send_at", "That send time is not a date and time.", field="send_at")
    return value


@login_required
@require_POST
def send(request: HttpRequest, phone_id: int) -> HttpResponse:
    """Queue (or schedule) the text; on refusal the panel says exactly why and keeps the text."""
    return send_text(request, _phone_or_404(request, phone_id))


def send_text(
    request: HttpRequest, phone: PhoneNumber, *, task: str = "", after_send: Callable[[Message], str] | None = None
) -> HttpResponse:
    """The panel's send: queue the text, answer with the panel (htmx) or the card (a plain POST).

    ``after_send`` is how a caller above messaging adds to a sent text (the workflows' "Open &
    text" completes its task); what it returns is appended to the confirmation.
    """
    body, task_id = _body(request), task
    numbers = owner_numbers(owner=phone.owner)
    waiting = open_requests(organization=phone.organization, numbers=numbers)
    others = [waiting[n.e164] for n in numbers if n.pk != phone.pk and n.e164 in waiting]
    if others and request.POST.get("confirm_other") != "1" and phone.e164 not in waiting:
        reply = others[0]
        warning = ServiceError(
            "confirm_other",
            f"{phone.owner.first_name} replied from {readable(reply.from_number)}: “{reply.body.strip()[:80]}”, "
            "which reads like a request to stop texting. Send to this number anyway?",
        )
        context = _panel_context(
            request, phone, body=body, template_id=request.POST.get("template", ""), task=task_id, error=warning
        )
        return render(request, "messaging/panel.html", context)
    try:
        message = message_queue(
            phone_number=phone,
            sent_by=request.user,
            body=body,
            template=_template_if_unchanged(request, phone, body),
            send_at=_parse_send_at(request.POST.get("send_at", "")),
        )
    except ServiceError as exc:
        context = _panel_context(
            request, phone, body=body, template_id=request.POST.get("template", ""), task=task_id, error=exc
        )
        return render(request, "messaging/panel.html", context)

    confirmation = _confirmation(message, phone) + (after_send(message) if after_send else "")
    if not request.htmx:
        messages.success(request, confirmation)
        return redirect(phone.owner)
    context = _panel_context(request, phone)
    context["confirmation"] = confirmation
    response = render(request, "messaging/panel.html", context)
    return trigger_client_event(response, SENT_EVENT)


def _confirmation(message: Message, phone: PhoneNumber) -> str:
    who = f"{phone.owner.full_name} at {phone.national}"
    if message.status == Message.Status.SCHEDULED:
        tz = recipient_time_zone(number=phone.number, facility=phone.owner.facility)
        local = message.send_at.astimezone(tz)
        return f"Text scheduled for {display_moment(local)} to {who}."
    return f"Text sent to {who}."


@login_required
@require_POST
def cancel_scheduled(request: HttpRequest, phone_id: int, message_id: int) -> HttpResponse:
    """Cancel on a text in the panel's "Scheduled" list: it becomes ``canceled`` and never goes out.

    The same ``message_cancel`` as ``POST /api/v1/messages/<id>/cancel/``; a text that started going
    out meanwhile is not canceled, and the panel says so.
    """
    phone, numbers = _phone_with_numbers_or_404(request, phone_id)
    text = person_text_for(person=phone.owner, numbers=numbers, pk=message_id)
    if text is None:
        raise Http404("No such text to this person in your organization.")
    error, confirmation = None, ""
    try:
        canceled = message_cancel(message=text)
    except ServiceError as exc:
        error = exc
    else:
        tz = recipient_time_zone(number=canceled.to_number, facility=phone.owner.facility)
        when = display_moment(canceled.send_at.astimezone(tz)) if canceled.send_at else "later"
        confirmation = f"Canceled the text scheduled for {when} to {readable(canceled.to_number)}."
    if not request.htmx:
        if error:
            messages.error(request, error.message)
        else:
            messages.success(request, confirmation)
        return redirect(phone.owner)
    context = _panel_context(request, phone, numbers=owner_numbers(owner=phone.owner), error=error)
    context["confirmation"] = confirmation
    response = render(request, "messaging/panel.html", context)
    return trigger_client_event(response, SENT_EVENT)  # the card's conversation and History follow


@login_required
@require_GET
def conversation(request: HttpRequest, phone_id: int) -> HttpResponse:
    """The person's thread; 204 when nothing changed since the version the page has.

    ``where=panel`` answers for the open panel (its thread and header, and the replies are read);
    otherwise for the card, with the ribbon's Text controls and the permission notice swapped too,
    so an opt-out or a flag shows without a reload.
    """
    phone, numbers = _phone_with_numbers_or_404(request, phone_id)
    version = thread_version(person=phone.owner, numbers=numbers)
    where = "panel" if request.GET.get("where") == "panel" else "card"
    if request.GET.get("v") == version:
        return HttpResponse(status=204)
    context = _conversation_context(phone, numbers, version=version, in_panel=where == "panel")
    if where == "panel":
        conversation_mark_read(person=phone.owner, user=request.user)
        return render(request, "messaging/_panel_thread.html", {**context, "oob_state": True})
    card_primary = numbers[0] if numbers else None
    # Only a poll (it carries the version it has) swaps the ribbon and the notice: the first load must
    # not reset a permission form the agent already opened.
    live = "v" in request.GET
    return render(request, "messaging/_conversation.html", {**context, "live": live, "card_primary": card_primary})


@login_required
@require_POST
def reply_not_a_request(request: HttpRequest, message_id: int) -> HttpResponse:
    """ "Not a request" on a flagged reply: the agent's note (required) resolves it; texting may resume."""
    organization = require_organization(request)
    reply = flagged_reply_for(organization=organization, pk=message_id)
    if reply is None:
        raise Http404("No such reply in your organization.")
    try:
        reply_flag_dismiss(reply=reply, user=request.user, note=request.POST.get("note", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Marked as not a request to stop. {readable(reply.from_number)} can be texted.")
    owner = reply.lead or reply.customer
    if request.htmx:
        return HttpResponseClientRefresh()
    return redirect(safe_next(request, owner.get_absolute_url() if owner else reverse("outstanding")))


@login_required
@require_POST
def reply_opt_out(request: HttpRequest, message_id: int) -> HttpResponse:
    """ "Opt out this number" on a reply that asks not to be texted: one click, the reply is the note.

    Offered in the card's conversation and on /outstanding/. Once an opt-out was recorded after the
    reply arrived there is nothing left to do, and a second click writes nothing.
    """
    organization = require_organization(request)
    reply = flagged_reply_for(organization=organization, pk=message_id)
    if reply is None:
        raise Http404("No such reply in your organization.")
    owner = reply.lead or reply.customer
    national = reply.from_number.as_national
    if not inbound_flagged(organization).filter(pk=reply.pk).exists():
        messages.info(request, f"{national} is already opted out.")
    else:
        try:
            consent_revoke(
                organization=organization,
                number=reply.from_number,
                source=ConsentEvent.Source.AGENT,
                actor=request.user,
                evidence=_asked_by_text(reply),
                **request_evidence(request),
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"Opt-out recorded for {national}, as asked by text. "
                "Nobody can text it until permission is recorded again.",
            )
    if request.htmx:
        return HttpResponseClientRefresh()
    return redirect(safe_next(request, owner.get_absolute_url() if owner else reverse("outstanding")))


def _asked_by_text(reply: Message) -> str:
    return f'Asked by text: "{reply.body.strip()}"'
