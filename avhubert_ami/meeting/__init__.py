"""Meetings: several participants, each with a close-up camera and usually a headset, plus a room microphone."""
