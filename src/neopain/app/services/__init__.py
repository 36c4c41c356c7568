"""What the routes do, apart from HTTP: frames, babies, users."""
