from django.core.management.base import BaseCommand

from readingcenter.worklist.services import cases_open_missing


class Command(BaseCommand):
    help = "Put every readable study that has no case on the worklist (idempotent)."

    def handle(self, *args, **options):
        self.stdout.write(f"opened {cases_open_missing()} cases")
