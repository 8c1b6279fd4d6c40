"""Who may do what in the console: five roles and the permissions each one has.

One table, read by the pages (which buttons to show), the API and the codec endpoint (what to
refuse), so a permission is granted in exactly one place.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["GRANTS", "Permission", "Role", "allowed"]


class Role(StrEnum):
    """A console user's role."""

    VIEWER = "viewer"
    COLLECTOR = "collector"
    OPS = "ops"
    MANAGER = "manager"
    ADMIN = "admin"


class Permission(StrEnum):
    """Something a user may be allowed to do or see."""

    VIEW = "view"  # queues, case standing and timeline, portfolio figures (no personal data)
    PERSONAL_DATA = "personal_data"  # debtor name, phone, e-mail, address; decrypted payloads
    RECORD = "record"  # payments, call outcomes, promises: what a collector hears
    DISPUTES = "disputes"  # file and resolve disputes and complaints
    APPROVE = "approve"  # approve or deny legal referral, field visit, agency placement
    USERS = "users"  # manage console users
    REFRESH = "refresh"  # recompute the portfolio's figures now rather than at the next refresh


#: Personal data goes only to those who contact the debtor (collectors) or handle their
#: disputes and complaints (ops), and to admins; managers and viewers see figures and standings.
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.COLLECTOR: frozenset({Permission.VIEW, Permission.PERSONAL_DATA, Permission.RECORD}),
    Role.OPS: frozenset(
        {Permission.VIEW, Permission.PERSONAL_DATA, Permission.RECORD, Permission.DISPUTES}
    ),
    Role.MANAGER: frozenset(
        {Permission.VIEW, Permission.APPROVE, Permission.DISPUTES, Permission.REFRESH}
    ),
    Role.ADMIN: frozenset(Permission),
}


def allowed(role: Role, permission: Permission) -> bool:
    """Whether `role` has `permission`."""
    return permission in GRANTS[role]
