from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tradeviz.errors import NotFound

from .apikeys import api_key_create, api_key_revoke
from .models import ApiKey, User


def request_user(request: Request) -> User:
    """The authenticated user of a request (views run behind IsAuthenticated)."""
    user = request.user
    assert isinstance(user, User)
    return user


class MeApi(APIView):
    """Who the caller is: a cheap authenticated probe for clients checking their credentials."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"id": user.pk, "username": user.get_username(), "is_staff": user.is_staff})


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ("id", "name", "prefix", "created_at", "last_used_at", "revoked_at")


class ApiKeyCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class ApiKeyCreatedSerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(read_only=True)

    class Meta:
        model = ApiKey
        fields = ("id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "key")


class ApiKeyListCreateApi(APIView):
    @extend_schema(responses=ApiKeyOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        keys = ApiKey.objects.filter(user=request_user(request))
        return Response(ApiKeyOutputSerializer(keys, many=True).data)

    @extend_schema(request=ApiKeyCreateInputSerializer, responses={201: ApiKeyCreatedSerializer})
    def post(self, request: Request) -> Response:
        data = ApiKeyCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = api_key_create(user=request_user(request), name=data.validated_data["name"])
        body = dict(ApiKeyOutputSerializer(issued.api_key).data)
        body["key"] = issued.raw_key
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, key_id: int) -> Response:
        api_key = ApiKey.objects.filter(user=request_user(request), pk=key_id).first()
        if api_key is None:
            raise NotFound("No such API key.")
        api_key_revoke(api_key=api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)
