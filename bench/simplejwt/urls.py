"""Two routes: the authenticated view and simplejwt's own refresh view."""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.views import TokenRefreshView


class Me(APIView):
    """What authsvc's `/auth/verify` answers, in the stock way: the access token checked by
    JWTAuthentication (signature, claims, then the user row), a small JSON body."""

    authentication_classes = (JWTAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"active": True, "sub": str(user.pk), "username": user.get_username()})


urlpatterns = [
    path("api/me/", Me.as_view()),
    path("api/token/refresh/", TokenRefreshView.as_view()),
]
