"""POST /api/token/: DRF's token sign-in, throttled per client address (password guessing)."""

from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import AnonRateThrottle


class TokenThrottle(AnonRateThrottle):
    scope = "token"


class ObtainToken(ObtainAuthToken):
    throttle_classes = [TokenThrottle]


obtain_token = ObtainToken.as_view()
