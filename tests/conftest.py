"""The fixed cast and the real services every test runs against.

PostgreSQL is the configured server (pytest-django makes a test database on it), Redis the
configured one, and Orthanc a real Orthanc process started per test on free loopback ports.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from readingcenter.accounts.models import Privilege, Role, User
from readingcenter.hospitals.models import Hospital, HospitalAETitle
from readingcenter.pacs.orthanc_server import (
    OrthancConfig,
    OrthancProcess,
    PostgresIndex,
    free_port,
    postgresql_index_plugin,
)
from tests.browser import browser, live_server_daphne  # noqa: F401 - fixtures for the browser tests
from tests.hints import own_redis_prefix  # noqa: F401 - a fixture for the live-hint tests


@pytest.fixture
def hospital_a(db) -> Hospital:
    hospital = Hospital.objects.create(name="Alpha Regional", code="alpha", time_zone="Asia/Seoul")
    HospitalAETitle.objects.create(hospital=hospital, ae_title="ALPHA_CT")
    return hospital


@pytest.fixture
def hospital_b(db) -> Hospital:
    hospital = Hospital.objects.create(name="Beta General", code="beta", time_zone="Asia/Shanghai")
    HospitalAETitle.objects.create(hospital=hospital, ae_title="BETA_CT")
    return hospital


def _user(username: str, role: str, hospital: Hospital | None = None) -> User:
    user = User.objects.create_user(
        username=username, password="correct-horse-battery", role=role, hospital=hospital
    )
    return user


@pytest.fixture
def manager(db) -> User:
    return _user("mgr", Role.MANAGER)


def grant(user: User, hospital: Hospital, *, valid_until=None, valid_from=None) -> Privilege:
    """Credential a radiologist at a hospital (valid from a year ago unless told otherwise)."""
    today = timezone.now().date()
    return Privilege.objects.create(
        radiologist=user,
        hospital=hospital,
        licence_number=f"LIC-{user.pk}-{hospital.code}",
        valid_from=valid_from or today - dt.timedelta(days=365),
        valid_until=valid_until,
    )


@pytest.fixture
def radiologist(hospital_a, hospital_b) -> User:
    """Credentialed at both hospitals."""
    user = _user("dr.who", Role.RADIOLOGIST)
    grant(user, hospital_a)
    grant(user, hospital_b)
    return user


@pytest.fixture
def radiologist_b_only(hospital_a, hospital_b) -> User:
    """Credentialed at Beta only: Alpha's cases are none of his business."""
    user = _user("dr.beta", Role.RADIOLOGIST)
    grant(user, hospital_b)
    return user


@pytest.fixture
def radiologist_unprivileged(db) -> User:
    return _user("dr.nobody", Role.RADIOLOGIST)


@pytest.fixture
def hospital_user_a(hospital_a) -> User:
    return _user("alpha.it", Role.HOSPITAL, hospital_a)


@pytest.fixture
def hospital_user_b(hospital_b) -> User:
    return _user("beta.it", Role.HOSPITAL, hospital_b)


def api_as(user: User | None, scopes=None) -> APIClient:
    """An API client authenticated the way systems are: with a token.

    The token holds every scope unless ``scopes`` narrows it, so that the role alone decides
    what the caller may do (scopes and their limits have tests of their own). Made directly,
    not through the service, so that it leaves no audit event behind in tests that count them.
    """
    import datetime as dt
    import secrets

    from readingcenter.accounts.models import ApiToken, Scope
    from readingcenter.accounts.services import api_token_hash

    client = APIClient()
    if user is not None:
        key = f"rc_test_{secrets.token_urlsafe(24)}"
        ApiToken.objects.create(
            prefix=key[3:11],
            key_hash=api_token_hash(key),
            user=user,
            name="test",
            scopes=list(scopes if scopes is not None else Scope.values),
            expires_at=timezone.now() + dt.timedelta(days=30),
        )
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def orthanc_factory(tmp_path, settings):
    """Start real Orthanc processes; the last one started is the one settings point at."""
    from readingcenter.studies import ingest

    # What a follower in this process read past its cursor belongs to an earlier test's log.
    ingest._ahead_state().clear()
    started: list[OrthancProcess] = []

    def start(
        *,
        stable_age: int = 1,
        directory=None,
        http_port=None,
        dicom_port=None,
        index: PostgresIndex | None = None,
        storage=None,
    ) -> OrthancProcess:
        config = OrthancConfig(
            directory=directory or tmp_path / f"orthanc{len(started)}",
            http_port=http_port or free_port(),
            dicom_port=dicom_port or free_port(),
            stable_age=stable_age,
            index=index,
            storage=storage,
            name=f"node{len(started)}",
        )
        process = OrthancProcess(config).start()
        started.append(process)
        settings.ORTHANC_URL = config.url
        settings.ORTHANC_USERNAME = config.username
        settings.ORTHANC_PASSWORD = config.password
        settings.ORTHANC_DICOM_PORT = config.dicom_port
        settings.ORTHANC_AET = config.aet
        settings.ORTHANC_STABLE_AGE = stable_age
        return process

    yield start
    for process in started:
        process.stop(kill=True)


@pytest.fixture
def orthanc(orthanc_factory) -> OrthancProcess:
    return orthanc_factory()


@pytest.fixture
def orthanc_index() -> PostgresIndex:
    """A fresh PostgreSQL database for Orthanc's index (the orthanc-postgresql plugin), dropped
    afterwards; beside the test database, on the same server."""
    if postgresql_index_plugin() is None:
        pytest.fail("the orthanc-postgresql plugin is not installed: run `make setup`")
    db = connection.settings_dict
    index = PostgresIndex(
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 5432),
        database=f"{db['NAME']}_orthanc_{uuid.uuid4().hex[:8]}",
        username=db["USER"] or "postgres",
        password=db["PASSWORD"] or "",
    )
    index.ensure_database()
    yield index
    index.drop_database()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness protects real passwords; test users need none of it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def second_factor_device_for(user):
    """The user's confirmed authenticator, created for the test when there is none."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test phone", confirmed=True)


def current_code(device) -> str:
    """What the user's authenticator app shows now."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture(autouse=True)
def _force_login_includes_the_second_factor(monkeypatch):
    """``force_login`` skips signing in by design, the authenticator step included: tests of
    what a signed-in user sees start signed in. The second factor has its own tests, which
    sign in through the pages."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        if getattr(user, "requires_second_factor", False):
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = second_factor_device_for(user).persistent_id
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login)
