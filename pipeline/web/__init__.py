"""pantau's review workspace: a server-rendered web app for reviewers, supervisors, analysts and admins."""
