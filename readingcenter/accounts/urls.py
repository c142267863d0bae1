"""Pages (``urlpatterns``): signing in and out, choosing the language."""

from django.contrib.auth import views as auth_views
from django.urls import path

from readingcenter.accounts import views
from readingcenter.accounts.forms import SignInForm

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(authentication_form=SignInForm), name="login"),
    path("login/verify/", views.second_factor, name="second_factor"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", views.language, name="language"),
]
