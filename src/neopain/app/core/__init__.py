"""Settings, database, security, storage and the pure rules the routes rely on."""
