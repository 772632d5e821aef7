from __future__ import annotations

from django.urls import path, re_path

from .views import demo, inbox, outstanding, panel, template_preview, unsubscribe, webhooks

# Sections: unsubscribe links, Twilio webhooks, the card's text panel.
urlpatterns: list = [
    # /u/<token> as printed in texts; a trailing slash some phones add is accepted too.
    re_path(r"^u/(?P<token>[A-Za-z0-9]+)/?$", unsubscribe.unsubscribe, name="unsubscribe"),
    # Twilio webhooks (docs/ARCHITECTURE.md "External names"); signed, POST only. Each answers
    # with and without the trailing slash: Twilio does not follow a redirect with a POST, so
    # APPEND_SLASH's 301 would lose a STOP typed into the console without the slash. The
    # signature is checked over the path as requested, so either form verifies.
    path("webhooks/twilio/status/", webhooks.twilio_status, name="twilio_status"),
    path("webhooks/twilio/status", webhooks.twilio_status, name="twilio_status_no_slash"),
    path("webhooks/twilio/inbound/", webhooks.twilio_inbound, name="twilio_inbound"),
    path("webhooks/twilio/inbound", webhooks.twilio_inbound, name="twilio_inbound_no_slash"),
    # The card's text panel (templates/messaging/panel.html and friends).
    path("text/panel/<int:phone_id>/", panel.panel, name="text_panel"),
    path("text/panel/<int:phone_id>/preview/", panel.preview, name="text_preview"),
    path("text/panel/<int:phone_id>/template/", panel.template_choose, name="text_template"),
    path("text/panel/<int:phone_id>/send/", panel.send, name="text_send"),
    path(
        "text/panel/<int:phone_id>/scheduled/<int:message_id>/cancel/",
        panel.cancel_scheduled,
        name="text_cancel_scheduled",
    ),
    # Demo only (404 unless DEBUG): a person's reply on make run, through the webhook's inbound service.
    path("text/panel/<int:phone_id>/demo-reply/", demo.demo_reply, name="text_demo_reply"),
    path("text/conversation/<int:phone_id>/", panel.conversation, name="text_conversation"),
    path("text/replies/<int:message_id>/opt-out/", panel.reply_opt_out, name="text_reply_opt_out"),
    path("text/replies/<int:message_id>/not-a-request/", panel.reply_not_a_request, name="text_reply_not_a_request"),
    # The template form's live preview in admin (static/js/template_preview.js).
    path("text/templates/preview/", template_preview.template_preview_live, name="template_preview_live"),
    # The inbox: conversations with unread replies first, assignment, search; the header's unread count.
    path("inbox/", inbox.inbox_page, name="inbox"),
    path("inbox/unread/", inbox.unread, name="inbox_unread"),
    path("inbox/list/", inbox.inbox_list, name="inbox_list"),
    path("inbox/<str:kind>/<int:pk>/assign/", inbox.assign, name="inbox_assign"),
    path("inbox/<str:kind>/<int:pk>/state/", inbox.conversation_set_state, name="inbox_state"),
    path("inbox/<str:kind>/<int:pk>/notes/", inbox.note_add, name="inbox_note_add"),
    path("inbox/<str:kind>/<int:pk>/presence/", inbox.presence, name="inbox_presence"),
    # The outstanding list's inbound section, loaded into /outstanding/ by htmx.
    path("outstanding/inbound/", outstanding.outstanding_inbound, name="outstanding_inbound"),
]
