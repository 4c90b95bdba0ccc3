"""`driftgraph scan` options that would make a scan bound nothing or list nothing are usage errors (exit 2),
caught before any AWS call or database write."""

from __future__ import annotations

import pytest

from edge_servers import driftgraph, scan_env
from scanner.live import orphan_types, plan_tasks, scan_live
from scanner.clients import AwsSession
from graph.resource_types import CATALOG


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_a_call_timeout_that_bounds_nothing_is_a_usage_error(tmp_path, value):
    db = tmp_path / "x.db"
    result = driftgraph(["scan", "--db", str(db), "--region", "us-east-1", "--call-timeout", value],
                        scan_env("http://127.0.0.1:9"))
    assert result.returncode == 2, result.stderr
    assert "--call-timeout" in result.stderr and "Traceback" not in result.stderr
    assert not db.exists()


@pytest.mark.parametrize("child, parent", [("AWS::ECS::Service", "AWS::ECS::Cluster"),
                                           ("AWS::ElasticLoadBalancingV2::Listener",
                                            "AWS::ElasticLoadBalancingV2::LoadBalancer")])
def test_a_type_listed_per_parent_without_its_parent_is_a_usage_error_naming_it(tmp_path, child, parent):
    db = tmp_path / "x.db"
    result = driftgraph(["scan", "--db", str(db), "--region", "us-east-1", "--type", child],
                        scan_env("http://127.0.0.1:9"))
    assert result.returncode == 2, result.stderr
    assert f"{child} is listed per {parent}: add --type {parent}" in " ".join(result.stderr.split()), result.stderr
    assert not db.exists()
    assert orphan_types([child, parent]) == []


def test_the_library_refuses_the_same_instead_of_a_complete_listing_of_nothing():
    with pytest.raises(ValueError, match="AWS::ECS::Service is listed per AWS::ECS::Cluster"):
        scan_live(AwsSession(), "123456789012", "aws", ["us-east-1"], ["AWS::ECS::Service"])
    with pytest.raises(ValueError, match="no region to scan"):
        plan_tasks([CATALOG["AWS::IAM::Role"]], [])


@pytest.mark.parametrize("region", ["us-east-1\n", " us-east-1", "us-east-1 "])
def test_a_region_name_with_a_trailing_newline_or_spaces_is_a_usage_error(tmp_path, region):
    db = tmp_path / "x.db"
    result = driftgraph(["scan", "--db", str(db), "--region", region], scan_env("http://127.0.0.1:9"))
    assert result.returncode == 2, result.stderr
    assert f"{region!r} is not a region name (did you mean us-east-1?)" in result.stderr, result.stderr
    assert not db.exists()
