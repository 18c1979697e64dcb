"""SQLite storage: the schema and its migrations, and one repository module per kind of record."""
