"""pantau's core: settings, the Post contract, the store. Imports nothing else of the project."""
