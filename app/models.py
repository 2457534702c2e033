"""Every table, imported once so that SQLModel.metadata knows them all
(Alembic's env.py and the tests rely on it)."""

from app import audit, auth, idempotency  # noqa: F401
from app.calendar import models as calendar_models  # noqa: F401
from app.feeds import models as feeds_models  # noqa: F401
from app.launches import models as launches_models  # noqa: F401
from app.promotions import models as promotions_models  # noqa: F401
from app.slots import models as slots_models  # noqa: F401
from app.webhooks import models as webhooks_models  # noqa: F401
