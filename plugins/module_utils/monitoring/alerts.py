# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alert state machine (failing, repeated, recovered) and the text of each alert."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.core import alerts as core_alerts
from ansible_collections.pgops.backup.plugins.module_utils.monitoring.checks import FAILING, OK


def _key(res):
    return "%s:%s" % (res["check"], res["subject"])


def advance_alerts(state, results, now, repeat_seconds):
    """The alert state machine. state: {key: {'status', 'since', 'last_alert'}} from the last run.

    Returns (new state, notifications): a notification {'event': failing|repeat|recovered, 'key', 'result',
    'since'} when a check turns failing, again every repeat_seconds while it fails, and once when it recovers.
    A caller that could not deliver a notification calls ``undelivered`` so the next run tries again.
    """
    state = dict(state or {})
    notifications = []
    for res in results:
        key = _key(res)
        previous = state.get(key) or {"status": OK}
        if res["status"] == FAILING:
            if previous["status"] != FAILING:
                state[key] = {"status": FAILING, "since": now, "last_alert": now}
                notifications.append({"event": "failing", "key": key, "result": res, "since": now})
            elif previous.get("last_alert") is None or now - previous["last_alert"] >= repeat_seconds:
                state[key] = dict(previous, last_alert=now)
                notifications.append({"event": "repeat", "key": key, "result": res, "since": previous["since"]})
        elif res["status"] == OK and previous["status"] == FAILING:
            state[key] = {"status": OK, "since": now, "last_alert": None}
            notifications.append({"event": "recovered", "key": key, "result": res, "since": previous["since"],
                                  "previous": previous})
        elif res["status"] == OK:
            state[key] = {"status": OK, "since": previous.get("since", now), "last_alert": None}
    return state, notifications


def undelivered(state, notification):
    """The state as if the notification had not been sent, so the next run sends it again."""
    state = dict(state)
    if notification["event"] == "recovered":
        state[notification["key"]] = notification["previous"]
    elif notification["event"] == "failing":
        state[notification["key"]] = {"status": FAILING, "since": notification["since"], "last_alert": None}
    else:
        state[notification["key"]] = dict(state[notification["key"]], last_alert=None)
    return state


def alert_text(notification, host, cluster, now):
    """The alert's line, in the one shape of core/alerts.py."""
    res = notification["result"]
    return core_alerts.alert_text(notification["event"], res["check"], res["subject"], host, cluster,
                                  notification["since"], res["message"], now)
