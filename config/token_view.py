"""POST /api/token/: DRF's token sign-in, throttled per client address and limited per username and address
like the browser's sign-in form (config/signin.py), so neither path allows password guessing."""

from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from config import signin


class TokenThrottle(AnonRateThrottle):
    scope = "token"


class ObtainToken(ObtainAuthToken):
    throttle_classes = [TokenThrottle]

    def post(self, request, *args, **kwargs):
        username = str(request.data.get("username", ""))
        locked = signin.lock(request, username)
        if locked:
            return Response(
                {"message": locked.message, "retry_after": locked.retry_after},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(locked.retry_after)},
            )
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            signin.count_failure(request, username)
            return Response(
                {"message": "that username and password do not match", "field": "password"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return super().post(request, *args, **kwargs)


obtain_token = ObtainToken.as_view()
