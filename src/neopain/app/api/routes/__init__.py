"""Routers: pages (server-rendered) and the small JSON API the camera and search use."""
