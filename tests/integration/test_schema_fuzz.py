"""The API against its own OpenAPI schema (schemathesis): no 5xx, no response that breaks the schema,
no route that ignores a missing key. A 422 for schema-valid data that breaks a rule across fields
is allowed. Examples per operation: ASKDOCS_FUZZ_EXAMPLES (default 25, so CI
stays fast; the issue note gives a longer run).

Driven through ``APIOperation.as_strategy`` under Hypothesis: schemathesis's own pytest plugin does
not run under pytest 9 (it sets ``Function._nodeid``, which pytest 9 removed)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("ASKDOCS_FUZZ_EXAMPLES", "25"))


def _fuzz(op: schemathesis.APIOperation, headers: dict[str, str], counts: dict[str, int]) -> None:
    @given(case=op.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        counts["examples"] += 1
        # Every check but "schema-valid data is accepted": rules across fields that OpenAPI cannot
        # state answer 422 by design (a folder source takes no token), and the 422 body is
        # itself checked against the schema.
        resp = case.call_and_validate(
            headers=headers, timeout=180, excluded_checks=[positive_data_acceptance]
        )
        key = str(resp.status_code)
        counts[key] = counts.get(key, 0) + 1

    run()


def test_every_operation_keeps_its_schema(stack: Stack) -> None:
    schema = schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")
    auth = {"Authorization": f"Bearer {stack.admin_key}"}
    summary: dict[str, dict[str, int]] = {}
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        op = result.ok()
        counts = summary.setdefault(op.label, {"examples": 0})
        try:
            _fuzz(op, auth, counts)
        except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - collect all, then fail once
            failures[op.label] = f"{type(e).__name__}: {str(e)[:2000]}"
    print("\nschemathesis summary (operation: examples, responses by status)")
    for label, counts in sorted(summary.items()):
        print(f"  {label}: {counts}")
    print(f"  operations {len(summary)}, failures {len(failures)}")
    assert len(summary) >= 15
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
