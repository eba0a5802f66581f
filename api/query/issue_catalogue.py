"""Titles and explanations of issue codes, shown in issue lists and the
issue summary. The codes and texts are the original server's; a code not
listed here (a newer detector) is shown with its code as title."""

from __future__ import annotations

ISSUE_TEXTS: dict[str, tuple[str, str]] = {
    "no_media_access": (
        "Could not access any media device",
        "The app could not access any input device from the browser during a session.",
    ),
    "ice_failed": (
        "Connection could not be established",
        "The user could not find any suitable ICE candidates to establish a connection to "
        "another participant or a SFU.",
    ),
    "no_connection": (
        "The participant could not establish a connection",
        "There was a session for this participant that no connection could be established "
        "to another participant or a SFU.",
    ),
    "very_low_emos": (
        "The participant had a very bad experience during the conference",
        "Due to network conditions, this participant had a poor experience with incoming "
        "content. Causes might have been robotic audio, frozen video, etc.",
    ),
    "getusermedia_error": (
        "Problem accessing media",
        "The user had a problem accessing the mic/camera of the device.",
    ),
    "icecandidateerror": ("ICE candidate error", ""),
    "connection_disconnected": ("Connection disconnected", "An user temporarily disconnected."),
    "connection_failed": ("Connection failed", ""),
    "multiple_rejoins": ("Multiple rejoins", "An user refreshed during a call."),
    "tcp_used": (
        "Media sent over TCP",
        "Participant used the TCP protocol to transfer media instead of UDP.",
    ),
    "turn_used": (
        "Connection relayed through a TURN server",
        "The participant might be behind an asymmetric NAT and connection could not be "
        "established directly.",
    ),
    "low_emos": (
        "Participant had a less than ideal experience",
        "During the conference, the participant might have experienced periods of bad "
        "incoming audio quality or frozen video.",
    ),
}


def issue_title(code: str) -> str:
    return ISSUE_TEXTS.get(code, (code, ""))[0]


def issue_explanation(code: str) -> str:
    return ISSUE_TEXTS.get(code, (code, ""))[1]
