"""The operations console: work queues, case pages and the portfolio for people, a JSON API for
scripts, the remote codec and metrics for engineers (`overdue serve`).

It only talks to Temporal through the typed client (`workflows.client.Cases`) and keeps its own
users behind `console.users.UserStore`; nothing here decides anything about a case.
"""
