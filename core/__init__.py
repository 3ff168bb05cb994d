"""The ground every other package stands on: settings, the catalog, originals, access, the task queue. Imports no other askdocs package."""
