from django.core.management.base import BaseCommand

from readingcenter.demo.contacts import load_demo_contacts


class Command(BaseCommand):
    help = "Create the demo hospitals' critical-result contacts (idempotent; after load_demo)."

    def handle(self, *args, **options):
        created = load_demo_contacts()
        self.stdout.write(f"critical result contacts: {created} new, the rest already there")
