"""Superset's one-time set-up, run by run.sh before the web server starts.

Idempotent, in one process (each `superset` CLI call costs ~15 s of imports):
migrate the metadata database, sync the built-in roles and permissions
(`superset init`), then create the admin from SUPERSET_ADMIN_USER and
SUPERSET_ADMIN_PASSWORD, or reset its password if .env changed it.
"""

import os
import time

from flask_migrate import upgrade
from superset.app import create_app
from werkzeug.security import check_password_hash


def main() -> None:
    began = time.monotonic()
    app = create_app()
    with app.app_context():
        from superset import appbuilder, db, security_manager

        upgrade()
        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
        name, password = os.environ["SUPERSET_ADMIN_USER"], os.environ["SUPERSET_ADMIN_PASSWORD"]
        user = security_manager.find_user(username=name)
        if user is None:
            admin = security_manager.find_role(security_manager.auth_role_admin)
            security_manager.add_user(name, "Pipeline", "Admin", f"{name}@localhost", admin, password=password)
            outcome = "created"
        elif not check_password_hash(user.password, password):
            security_manager.reset_password(user.id, password)
            outcome = "password updated from .env"
        else:
            outcome = "unchanged"
        db.session.commit()
    print(
        f"superset prepare: metadata migrated, roles synced, admin {name!r} {outcome} "
        f"({time.monotonic() - began:.1f}s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
