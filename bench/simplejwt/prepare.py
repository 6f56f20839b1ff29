"""Make the simplejwt service's database, its user and tokens, before it is measured:
`python -m bench.simplejwt.prepare OUT_DIR COUNT` (in bench/.venv-simplejwt, with the
settings' environment). Writes OUT_DIR/access.txt (one access token) and
OUT_DIR/refresh.txt (COUNT refresh tokens, one a line, each in the outstanding-token table as
simplejwt's own login view would leave it: rotation makes every one single-use)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

USERNAME = "bench"
PASSWORD = "Quartz-meadow-91-lantern"


def main(out: Path, count: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.simplejwt.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user(USERNAME, "bench@example.com", PASSWORD)
    with transaction.atomic():  # one commit for all of them, not one per token
        refresh = [str(RefreshToken.for_user(user)) for _ in range(count)]
    (out / "access.txt").write_text(str(AccessToken.for_user(user)))
    (out / "refresh.txt").write_text("\n".join(refresh))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
