"""The bedside web app: FastAPI server, camera loop, records, history, charts, accounts, audit."""
