"""Sources: folders, websites and git repositories a collection keeps in sync with (issue 20)."""
