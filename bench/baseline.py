"""The bare floor the Send API is compared with: the least any "queue a text" endpoint must do.

Token auth, the caller's organization, a validated number, one INSERT of a queued Message and
one Celery publish after commit. No consent, quiet hours, templates, unsubscribe link, history
or throttle. Benchmarks only: mounted by ``bench.urls``, never by ``config.urls``.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions.models import Membership
from messaging.models import Message
from messaging.tasks import send_message


class BaselineSerializer(serializers.Serializer):
    to = PhoneNumberField()
    body = serializers.CharField(max_length=1600)


class BaselineSendView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    throttle_classes: list = []

    def post(self, request):
        serializer = BaselineSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization_id = Membership.objects.filter(user=request.user).values_list("organization_id", flat=True)[0]
        now = timezone.now()
        with transaction.atomic():
            message = Message.objects.create(
                organization_id=organization_id,
                to_number=serializer.validated_data["to"],
                body=serializer.validated_data["body"],
                status=Message.Status.QUEUED,
                queued_at=now,
            )
            transaction.on_commit(lambda: send_message.delay(message.pk))
        return Response({"id": message.pk, "status": message.status}, status=status.HTTP_201_CREATED)
