/* The schema migrations, generated from sql/NNN-*.sql and sql/postgresql/NNN-*.sql by build-aux/sql2c.sh. */
#ifndef OTPGATE_STORE_SCHEMA_H
#define OTPGATE_STORE_SCHEMA_H

struct store_migration {
  int version;
  const char *name;
  const char *sql;
};

/* Ordered by version, ending with an all-zero entry: SQLite's (sql/) and
 * PostgreSQL's (sql/postgresql/). */
extern const struct store_migration store_migrations[];
extern const struct store_migration store_pg_migrations[];

#endif
