"""The bedside web app (FastAPI): settings, database, accounts, assessments, history, audit, retention,
and the commands' entry points into them. Never imports torch.
"""

from __future__ import annotations

from neopain.core.lazy import lazy_api

# Each public name and the module defining it; other stages import these names from here only.
_API = {
    "command_session": "core.db",
    "make_engine": "core.db",
    "session_factory": "core.db",
    "session_scope": "core.db",
    "upgrade": "core.db",
    "ModelUnavailable": "core.inference",
    "load_predictor": "core.inference",
    "PasswordPolicyError": "core.security",
    "AppSettings": "core.settings",
    "ImageStore": "core.storage",
    "ServeError": "core.tls",
    "TlsError": "core.tls",
    "tls_files": "core.tls",
    "check_pair": "core.tls",
    "fingerprint": "core.tls",
    "is_loopback": "core.tls",
    "self_signed": "core.tls",
    "create_app": "main",
    "first_login": "main",
    "UserCreate": "schemas",
    "export_labelled": "services.export",
    "purge_quarantine": "services.orphans",
    "BackupError": "services.backup",
    "backup": "services.backup",
    "restore": "services.backup",
    "purge_babies": "services.retention",
    "purge_images": "services.retention",
    "AccessError": "services.access",
    "create_unit": "services.access",
    "units_by_name": "services.access",
    "unit_members": "services.access",
    "all_users": "services.users",
    "log_out_everywhere": "services.users",
    "set_units": "services.users",
    "AccountError": "services.users",
    "UserExists": "services.users",
    "create_user": "services.users",
    "reset_password": "services.users",
    "set_active": "services.users",
    "set_role": "services.users",
    "user_by_name": "services.users",
    "end_user_sessions": "core.sessions",
    "user_sessions": "core.sessions",
    "verify_chain": "services.audit_chain",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the names are the keys of _API, all strings)
__getattr__ = lazy_api(__name__, _API, globals())
