"""What quality tells the layers above it (``api.webhooks`` listens),
sent right after the write, inside its transaction (a receiver defers its
work to after commit). Nothing is sent per stats sample: only when an
issue is raised or resolved, or a call ended."""

from django.dispatch import Signal

# An issue was raised (``issue_open``) or a detector resolved one.
# Arguments: action ("raised" | "resolved"), scope (services.IssueScope),
# code, subject, at.
issue_changed = Signal()

# The conference's call ended and its open issues were closed.
# Arguments: conference, at.
conference_closed = Signal()
