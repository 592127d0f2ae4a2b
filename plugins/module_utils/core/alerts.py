# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one alert contract, shared by the monitoring check and the restore drill: the user's alert command
gets the message on stdin and in PGOPS_ALERT_MESSAGE, with the same PGOPS_ALERT_* variables, and every
message has the same shape: "FAILING|STILL FAILING|RECOVERED CHECK SUBJECT on HOST (CLUSTER) ...: DETAIL"."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.pgops.backup.plugins.module_utils.core.process import error_line

ALERT_TIMEOUT = 60
EVENTS = ("failing", "repeat", "recovered")


def span(seconds):
    """'45s', '12m', '3h20m', '2d5h': a duration as people read it in an alert."""
    seconds = int(seconds)
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 7200:
        return "%dm" % (seconds // 60)
    if seconds < 172800:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    return "%dd%dh" % (seconds // 86400, seconds % 86400 // 3600)


def alert_text(event, check, subject, host, cluster, since, detail, now):
    """The one line an alert says (since and now: epoch seconds)."""
    if event == "recovered":
        return "RECOVERED %s %s on %s (%s) after %s: %s" % (check, subject, host, cluster, span(now - since), detail)
    return "%s %s %s on %s (%s) since %s: %s" % (
        "FAILING" if event == "failing" else "STILL FAILING", check, subject, host, cluster,
        time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(since)), detail)


def alert_environment(event, check, subject, host, cluster, stanza, since, text):
    """PGOPS_ALERT_* for the alert command."""
    return {"PGOPS_ALERT_EVENT": event, "PGOPS_ALERT_STATE": "ok" if event == "recovered" else "failing",
            "PGOPS_ALERT_CHECK": check, "PGOPS_ALERT_SUBJECT": subject, "PGOPS_ALERT_HOST": host,
            "PGOPS_ALERT_CLUSTER": cluster, "PGOPS_ALERT_STANZA": stanza,
            "PGOPS_ALERT_SINCE": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)),
            "PGOPS_ALERT_MESSAGE": text}


def send_alert(runner, argv, text, environment, timeout=ALERT_TIMEOUT):
    """Run the alert command (argv, never built from the message) with text on stdin and environment added.
    None when it succeeded, else why it did not (redacted by the runner)."""
    rc, out, err = runner.run(argv, check=False, data=text + "\n", timeout=timeout, environ=environment)
    if rc != 0:
        return "alert command failed (exit %d): %s" % (rc, error_line(out, err))
    return None
