"""SQLAlchemy 2 models; importing this package registers every table on ``Base.metadata``."""

from neopain.app.models.audit import AuditEvent, AuditHead
from neopain.app.models.baby import Assessment, Baby
from neopain.app.models.base import Base, opaque_id, utcnow
from neopain.app.models.observation import BabyBaseline, Observation
from neopain.app.models.record import Record
from neopain.app.models.unit import BreakGlass, Unit, user_units
from neopain.app.models.user import LoginCounter, User, UserSession

__all__ = [
    "Assessment", "AuditEvent", "AuditHead", "Baby", "BabyBaseline", "Base", "BreakGlass", "LoginCounter",
    "Observation", "Record", "Unit", "User", "UserSession", "opaque_id", "user_units", "utcnow",
]
