from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from readingcenter.accounts.models import ApiToken, Scope, User
from readingcenter.accounts.services import TokenError, api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Make, list and revoke API tokens (scoped, expiring). The admin does the same."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="make a token and print its key (shown once)")
        create.add_argument("username")
        create.add_argument(
            "--scope",
            action="append",
            required=True,
            choices=Scope.values,
            help="repeat for several: " + ", ".join(Scope.values),
        )
        create.add_argument("--days", type=int, default=365, help="until it expires")
        create.add_argument("--name", default="", help="what uses it")
        listing = sub.add_parser("list", help="tokens and their state")
        listing.add_argument("username", nargs="?")
        revoke = sub.add_parser("revoke", help="revoke by prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _create(self, *, username, scope, days, name, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        try:
            token, key = api_token_create(
                user, name=name or f"made by manage.py for {username}", scopes=scope, days=days,
                actor="system:manage.py",
            )  # fmt: skip
        except TokenError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(key)
        self.stderr.write(
            f"token {token.prefix}… for {username}: {', '.join(token.scopes)}; expires "
            f"{token.expires_at:%Y-%m-%d}. The key is not stored: keep it now."
        )

    def _list(self, *, username=None, **options):
        tokens = ApiToken.objects.select_related("user")
        if username:
            tokens = tokens.filter(user__username=username)
        now = timezone.now()
        for token in tokens:
            state = (
                "revoked" if token.revoked_at else "expired" if token.expires_at <= now else "live"
            )
            self.stdout.write(
                f"{token.prefix}  {state:<8} {token.user.username:<16} "
                f"{','.join(token.scopes):<40} expires {token.expires_at:%Y-%m-%d}  {token.name}"
            )

    def _revoke(self, *, prefix, **options):
        token = ApiToken.objects.filter(prefix=prefix).first()
        if token is None:
            raise CommandError(f"no token with prefix {prefix!r} (`api_token list` shows them)")
        if not api_token_revoke(token, actor="system:manage.py"):
            raise CommandError(f"token {prefix}… was already revoked")
        self.stdout.write(f"revoked {prefix}…")
