"""The workspace's routers, one per resource: sign-in, the queue, review items, users, and the dashboard with
the runs page."""
