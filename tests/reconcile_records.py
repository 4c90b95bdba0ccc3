"""Record builders shared by the reconcile tests: one account, one region, a scope of complete listings."""

from __future__ import annotations

from graph.records import CLOUDFORMATION, GLOBAL, LIVE, TERRAFORM, Listing, Owner, Record
from graph.reconcile import Scope
from graph.resource_types import CATALOG

A, R = "111122223333", "us-east-1"


def live(type_, natural_id, region=R, **kw):
    return Record(LIVE, type_, A, region, natural_id, **kw)


def tf(type_, natural_id, address, source="state.tfstate", region=R, **kw):
    return Record(TERRAFORM, type_, A, region, natural_id,
                  owner=Owner("terraform", source, address, "terraform"), raw_type=kw.pop("raw_type", None), **kw)


def cfn(type_, natural_id, logical, stack="arn:aws:cloudformation:us-east-1:111122223333:stack/s/1", region=R, **kw):
    return Record(CLOUDFORMATION, type_, A, region, natural_id,
                  owner=Owner("cloudformation", stack, logical, "cloudformation", stack_name="s"), raw_type=type_, **kw)


def scope(*failed: Listing, regions=(R,)):
    listings = [Listing(A, r, t, "ok") for t, row in CATALOG.items() for r in ((GLOBAL,) if row.scope != "regional" else regions)]
    failed_keys = {(l.type, l.region) for l in failed}
    listings = [l for l in listings if (l.type, l.region) not in failed_keys] + list(failed)
    return Scope({A}, set(regions), "aws", listings)


def by_id(graph):
    return {n.natural_id: n for n in graph.nodes}
