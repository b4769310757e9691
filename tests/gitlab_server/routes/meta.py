"""``/version``, ``/metadata`` (lib/api/metadata.rb, doc/api/metadata.md) and
the key-restriction application settings (lib/api/settings.rb;
app/models/application_setting_implementation.rb ``*_key_restriction``)."""

from __future__ import annotations

from .. import auth, keys
from ..app import ok
from ..params import Declared

VERSION = {
    "version": "18.10.0", "revision": "0123456789a",
    "kas": {"enabled": False, "externalUrl": None, "externalK8sProxyUrl": None, "version": None},
    "enterprise": False,
}


def metadata(app, req):
    auth.authenticate(req)
    return ok(VERSION)


def get_settings(app, req):
    auth.authenticated_admin(req)
    return ok(app.settings())


def put_settings(app, req):
    """Only the ``*_key_restriction`` settings exist here; GitLab accepts 0,
    -1 (forbidden) or one of the supported sizes for each."""
    auth.authenticated_admin(req)
    declared = Declared(req.params)
    for tech in keys.TECHNOLOGIES:
        declared.optional(f"{tech}_key_restriction", int,
                          values=(0, keys.FORBIDDEN) + keys.SUPPORTED_SIZES[tech])
    for name, value in declared.validate().items():
        if value is not None:             # a nil (e.g. "") leaves the setting as it is
            app.store.set_setting(name, value)
    return ok(app.settings())


def register(router) -> None:
    router.api("GET", "/version", metadata)
    router.api("GET", "/metadata", metadata)
    router.api("GET", "/application/settings", get_settings)
    router.api("PUT", "/application/settings", put_settings)
