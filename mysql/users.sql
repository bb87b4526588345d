-- The pipeline's two accounts, applied by the launcher on every `make up`.
-- %(name)s values are bound by the MySQL client from .env, never pasted in;
-- {database} is the validated identifier MYSQL_DATABASE.

-- The streaming job writes with this one.
CREATE USER IF NOT EXISTS %(user)s@'%%' IDENTIFIED BY %(password)s;
ALTER USER %(user)s@'%%' IDENTIFIED BY %(password)s;
GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO %(user)s@'%%';

-- Superset reads with this one and can change nothing.
CREATE USER IF NOT EXISTS %(readonly_user)s@'%%' IDENTIFIED BY %(readonly_password)s;
ALTER USER %(readonly_user)s@'%%' IDENTIFIED BY %(readonly_password)s;
GRANT SELECT ON `{database}`.* TO %(readonly_user)s@'%%';
