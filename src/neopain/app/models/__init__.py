"""SQLAlchemy 2 models; importing this package registers every table on ``Base.metadata``."""

from neopain.app.models.audit import AuditEvent
from neopain.app.models.baby import Assessment, Baby
from neopain.app.models.base import Base, opaque_id, utcnow
from neopain.app.models.record import Record
from neopain.app.models.user import User, UserSession

__all__ = ["Assessment", "AuditEvent", "Baby", "Base", "Record", "User", "UserSession", "opaque_id", "utcnow"]
