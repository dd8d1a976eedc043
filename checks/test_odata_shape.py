"""An example of a check of your own, run once per selected profile (see README, "Your own
checks"). The built-in checks already prove access; this one looks at what comes back."""

import pytest


def test_message_logs_answer_odata_v2_json(preflight_api, preflight_profile):
    if "MessageProcessingLogs" not in preflight_profile.endpoints:
        pytest.skip("the profile does not list MessageProcessingLogs")
    answer = preflight_api.get("/MessageProcessingLogs", params={"$top": "1"})
    if answer.status_code != 200:
        pytest.skip(f"answered {answer.status_code}; the built-in checks report why")
    assert answer.headers["content-type"].startswith("application/json")
    assert isinstance(answer.json()["d"]["results"], list)
