"""No false status after a failure or from how inputs are spelled: failed owner sources and detail calls give
`unknown`, copies of one template are one owner, two claims on nothing are not a conflict, ignored means
ignored (drift included), and a child keeps one id whatever account its owners guessed."""

from __future__ import annotations

from graph.records import (
    CLOUDFORMATION,
    CONFLICT,
    IGNORED,
    MANAGED,
    MISSING,
    TERRAFORM,
    UNKNOWN,
    UNMANAGED,
    FailedSource,
    Listing,
    Owner,
    Record,
)
from graph.reconcile import IgnoreRules, Scope, reconcile
from reconcile_records import A, R, by_id, live, scope, tf

OTHER_ACCOUNT = "444455556666"


def template(type_, natural_id, logical, path, region=R):
    return Record(CLOUDFORMATION, type_, A, region, natural_id, owner=Owner("cloudformation", path, logical, "cloudformation"))


def test_a_state_that_could_not_be_read_makes_what_it_might_declare_unknown_not_unmanaged():
    truncated = FailedSource("states/prod.tfstate", TERRAFORM, "invalid JSON at line 3")
    checked = scope()
    checked.failed_sources.append(truncated)
    records_live = [live("AWS::SQS::Queue", "orders"), live("AWS::SQS::Queue", "owned"),
                    live("AWS::EC2::VPC", "vpc-d", is_default=True, default_reason="the default VPC")]
    nodes = by_id(reconcile(records_live, [tf("AWS::SQS::Queue", "owned", "aws_sqs_queue.o")], checked))
    assert nodes["orders"].status == UNKNOWN and nodes["orders"].rule == "owner_source_failed"
    assert "states/prod.tfstate" in nodes["orders"].reason and "invalid JSON at line 3" in nodes["orders"].reason
    assert nodes["owned"].status == MANAGED, "what a readable source declares is still managed"
    assert nodes["vpc-d"].rule == "aws_made", "what AWS made is not anyone's to declare"
    # without the failure, the same queue is unmanaged: the failure alone decides
    assert by_id(reconcile([live("AWS::SQS::Queue", "orders")], [], scope()))["orders"].status == UNMANAGED


def test_a_stack_that_could_not_be_read_covers_only_its_region_and_its_template_types():
    denied = FailedSource("orders-stack", CLOUDFORMATION, "ListStackResources failed: AccessDenied", A, R,
                          frozenset({"AWS::SQS::Queue"}))
    checked = scope(regions=(R, "eu-west-1"))
    checked.failed_sources.append(denied)
    records_live = [live("AWS::SQS::Queue", "here"), live("AWS::SQS::Queue", "there", region="eu-west-1"),
                    live("AWS::SNS::Topic", "topic")]
    nodes = by_id(reconcile(records_live, [], checked))
    assert nodes["here"].status == UNKNOWN and "orders-stack" in nodes["here"].reason
    assert nodes["there"].status == UNMANAGED, "a stack in us-east-1 does not declare queues in eu-west-1"
    assert nodes["topic"].status == UNMANAGED, "its template declares no topic"
    other_account = FailedSource("aws:cloudformation:DescribeStacks", CLOUDFORMATION, "AccessDenied", OTHER_ACCOUNT, R)
    checked = scope()
    checked.failed_sources.append(other_account)
    assert by_id(reconcile([live("AWS::SQS::Queue", "q")], [], checked))["q"].status == UNMANAGED


def test_a_failed_detail_call_is_unknown_for_an_unowned_resource_and_a_failed_tag_call_is_no_drift():
    key = live("AWS::KMS::Key", "key-1", failed_calls=("DescribeKey",))
    queue = live("AWS::SQS::Queue", "hand", failed_calls=("ListQueueTags",))
    owned = live("AWS::SQS::Queue", "owned", tags=None, failed_calls=("ListQueueTags",))
    declared = [tf("AWS::SQS::Queue", "owned", "aws_sqs_queue.o", tags={"team": "payments"})]
    listed = scope()
    tags_denied = Listing(A, R, "AWS::SQS::Queue", "access_denied", 2, "AccessDenied", call="ListQueueTags")
    checked = Scope(listed.accounts, listed.regions, "aws", [*listed.listings, tags_denied])
    nodes = by_id(reconcile([key, queue, owned], declared, checked))
    assert nodes["key-1"].status == UNKNOWN and nodes["key-1"].rule == "detail_failed"
    assert "DescribeKey" in nodes["key-1"].reason, "an AWS-managed key cannot be told from a hand-made one"
    assert nodes["hand"].status == UNMANAGED and "tags could not be read" in nodes["hand"].reason
    assert nodes["owned"].status == MANAGED and list(nodes["owned"].drift) == [], "unknown tags are not drift"
    gone = by_id(reconcile([], [tf("AWS::SQS::Queue", "gone", "aws_sqs_queue.g")], checked))["gone"]
    assert gone.status == MISSING, "a failed tag call does not mean the queues could not be listed"


def test_copies_of_one_template_are_one_owner_and_two_claims_on_nothing_are_not_a_conflict():
    copies = [template("AWS::SQS::Queue", "jobs", "Jobs", "t/app.json"), template("AWS::SQS::Queue", "jobs", "Jobs", "t/app.yaml")]
    gone = by_id(reconcile([], copies, scope()))["jobs"]
    assert gone.status == MISSING and "t/app.yaml" in gone.reason
    here = by_id(reconcile([live("AWS::SQS::Queue", "jobs")], copies, scope()))["jobs"]
    assert here.status == MANAGED and len(here.declarations) == 1
    # two different declarations of a live queue are a conflict; of a queue that is not there, it is missing
    rivals = [tf("AWS::SQS::Queue", "q", "aws_sqs_queue.a", source="a.tfstate"), tf("AWS::SQS::Queue", "q", "aws_sqs_queue.b", source="b.tfstate")]
    assert by_id(reconcile([live("AWS::SQS::Queue", "q")], rivals, scope()))["q"].status == CONFLICT
    nowhere = by_id(reconcile([], rivals, scope()))["q"]
    assert nowhere.status == MISSING and "a.tfstate" in nowhere.reason and "b.tfstate" in nowhere.reason


def test_an_ignored_resource_carries_no_drift():
    records_live = [live("AWS::SQS::Queue", "q", tags={"team": "b"}, attributes={"visibility_timeout": "90"})]
    declared = [tf("AWS::SQS::Queue", "q", "aws_sqs_queue.q", tags={"team": "a"}, attributes={"visibility_timeout": 30})]
    node = by_id(reconcile(records_live, declared, scope(), IgnoreRules(["AWS::SQS::Queue:q"], "ops.ignore")))["q"]
    assert node.status == IGNORED and list(node.drift) == []
    assert "otherwise managed, 2 drifted attributes" in node.reason


def test_a_child_without_an_arn_keeps_one_id_and_two_owners_make_it_a_conflict():
    group = live("AWS::EC2::SecurityGroup", "sg-1")
    rule = "sgrule-123"

    def rule_in(source, account):
        return Record(TERRAFORM, "aws_security_group_rule", account, R, rule, raw_type="aws_security_group_rule",
                      owner=Owner("terraform", source, "aws_security_group_rule.r", "terraform"),
                      parent=("AWS::EC2::SecurityGroup", "sg-1"))

    nodes = by_id(reconcile([group], [rule_in("a.tfstate", A), rule_in("b.tfstate", None)], scope()))
    assert nodes[rule].status == CONFLICT and nodes[rule].account == A
    assert "a.tfstate" in nodes[rule].reason and "b.tfstate" in nodes[rule].reason
    assert len([n for n in nodes.values() if n.type == "aws_security_group_rule"]) == 1


def test_a_terraform_resource_without_an_id_is_explained_as_terraforms():
    (unknown,) = reconcile([], [tf("AWS::SQS::Queue", None, "aws_sqs_queue.pending")], scope()).nodes
    assert unknown.status == UNKNOWN and "stack None" not in unknown.reason
    assert "Terraform state state.tfstate records no identifier for aws_sqs_queue.pending" in unknown.reason


def test_a_template_file_without_a_region_is_matched_in_any_scanned_region_and_never_missing():
    regions = (R, "eu-west-1")
    regionless = [template("AWS::SQS::Queue", "far", "Far", "t.yaml", region=None),
                  template("AWS::SQS::Queue", "nowhere", "Nowhere", "t.yaml", region=None)]
    nodes = by_id(reconcile([live("AWS::SQS::Queue", "far", region="eu-west-1")], regionless, scope(regions=regions)))
    assert nodes["far"].status == MANAGED and nodes["far"].region == "eu-west-1"
    assert nodes["nowhere"].status == UNKNOWN and nodes["nowhere"].rule == "region_unknown"
    assert "PATH@REGION" in nodes["nowhere"].reason
    # with its region given, the template is meant for that region: not there is missing
    placed = by_id(reconcile([], [template("AWS::SQS::Queue", "nowhere", "Nowhere", "t.yaml", region=R)], scope(regions=regions)))
    assert placed["nowhere"].status == MISSING


def test_a_regionless_declaration_matching_live_resources_in_two_regions_claims_neither():
    regions = (R, "eu-west-1")
    twins = [live("AWS::SQS::Queue", "dup"), live("AWS::SQS::Queue", "dup", region="eu-west-1")]
    graph = reconcile(twins, [template("AWS::SQS::Queue", "dup", "Dup", "t.yaml", region=None)], scope(regions=regions))
    found = sorted((n.region, n.status, n.rule) for n in graph.nodes)
    assert found == [("eu-west-1", UNKNOWN, "region_unknown"), (R, UNKNOWN, "region_unknown")]
    assert all("t.yaml" in n.reason and "PATH@REGION" in n.reason for n in graph.nodes)
    # a state resource with no region evidence at all is told the same way, without the template hint
    state = [tf("AWS::SQS::Queue", "lone", "aws_sqs_queue.lone", region=None)]
    (lone,) = reconcile([], state, scope(regions=regions)).nodes
    assert (lone.status, lone.rule) == (UNKNOWN, "region_unknown") and "state.tfstate" in lone.reason


def test_a_declaration_under_an_undecided_condition_is_unknown_when_absent_and_managed_when_live():
    conditional = [template("AWS::SQS::Queue", "prod-only", "ProdQ", "t.yaml")]
    conditional[0].condition = "IsProd"
    (absent,) = reconcile([], conditional, scope()).nodes
    assert (absent.status, absent.rule) == (UNKNOWN, "condition_undecided") and "IsProd" in absent.reason
    present = by_id(reconcile([live("AWS::SQS::Queue", "prod-only")], conditional, scope()))["prod-only"]
    assert present.status == MANAGED


def test_values_that_cannot_be_read_are_not_compared_and_never_crash_the_scan():
    from graph.drift import compare
    from graph.resource_types import CATALOG

    queue, group, role = CATALOG["AWS::SQS::Queue"], CATALOG["AWS::EC2::SecurityGroup"], CATALOG["AWS::IAM::Role"]
    assert compare(queue, {"visibility_timeout": "1e400"}, None, {"visibility_timeout": "30"}, None) == []
    assert compare(queue, {"visibility_timeout": "45"}, None, {"visibility_timeout": "30"}, None) != []
    for declared in ({"from_port": "1e999", "to_port": 22, "protocol": "tcp"}, {"cidr_blocks": 5, "protocol": "tcp"},
                     {"protocol": ["tcp"], "from_port": 1, "to_port": 1}):
        assert compare(group, {"ingress": [declared]}, None, {"ingress": []}, None) == []
    odd_policy = {"Version": "2012-10-17", 1: "x", "Statement": []}
    assert compare(role, {"assume_role_policy": odd_policy}, None, {"assume_role_policy": {"Statement": []}}, None) == []
    # and the whole reconcile goes through
    records_live = [live("AWS::SQS::Queue", "nan", attributes={"visibility_timeout": "30"})]
    declared = [tf("AWS::SQS::Queue", "nan", "aws_sqs_queue.nan", attributes={"visibility_timeout": "1e999"})]
    assert by_id(reconcile(records_live, declared, scope()))["nan"].status == MANAGED


def test_a_declaration_without_an_identifier_may_be_any_unowned_resource_of_its_type_there():
    records_live = [live("AWS::SQS::Queue", "hand"), live("AWS::SNS::Topic", "topic"),
                    live("AWS::SQS::Queue", "far", region="eu-west-1")]
    nodes = by_id(reconcile(records_live, [tf("AWS::SQS::Queue", None, "aws_sqs_queue.secret_id")],
                            scope(regions=(R, "eu-west-1"))))
    assert nodes["hand"].status == UNKNOWN and "aws_sqs_queue.secret_id" in nodes["hand"].reason
    assert nodes["topic"].status == UNMANAGED and nodes["far"].status == UNMANAGED


def test_what_a_parent_would_explain_is_unknown_when_the_parents_listing_failed():
    denied = [Listing(A, R, t, "access_denied", error_code="AccessDenied")
              for t in ("AWS::EC2::Instance", "AWS::EC2::VPC", "AWS::Lambda::Function")]
    records_live = [
        live("AWS::EC2::Volume", "vol-root", note="delete-on-termination"),
        live("AWS::EC2::SecurityGroup", "sg-default", note="default-group", edges=(("in_vpc", "AWS::EC2::VPC", "vpc-1"),)),
        live("AWS::EC2::SecurityGroup", "sg-hand", edges=(("in_vpc", "AWS::EC2::VPC", "vpc-1"),)),
        live("AWS::Logs::LogGroup", "/aws/lambda/worker"),
        live("AWS::SQS::Queue", "hand"),
    ]
    nodes = by_id(reconcile(records_live, [], scope(*denied)))
    for key, parent in (("vol-root", "AWS::EC2::Instance"), ("sg-default", "AWS::EC2::VPC"),
                        ("/aws/lambda/worker", "AWS::Lambda::Function")):
        assert (nodes[key].status, nodes[key].rule) == (UNKNOWN, "listing_failed"), key
        assert f"could not list {parent}" in nodes[key].reason
    assert nodes["sg-hand"].status == UNMANAGED, "a hand-made group is no VPC's default group, listed or not"
    assert nodes["hand"].status == UNMANAGED


def test_a_log_group_an_unreadable_stack_may_declare_is_unknown_not_lambdas():
    stack_denied = FailedSource("orders-stack", CLOUDFORMATION, "AccessDenied: ListStackResources failed", A, R)
    checked = scope()
    checked.failed_sources.append(stack_denied)
    records_live = [live("AWS::Lambda::Function", "orders-handler"), live("AWS::Logs::LogGroup", "/aws/lambda/orders-handler"),
                    live("AWS::EC2::Volume", "vol-root", note="delete-on-termination",
                         edges=(("attached_to", "AWS::EC2::Instance", "i-1"),)),
                    live("AWS::EC2::Instance", "i-1"), live("AWS::S3::Bucket", "shared")]
    declared = [tf("AWS::Lambda::Function", "orders-handler", "aws_lambda_function.h"),
                tf("AWS::EC2::Instance", "i-1", "aws_instance.i"), tf("AWS::S3::Bucket", "shared", "aws_s3_bucket.s")]
    nodes = by_id(reconcile(records_live, declared, checked))
    assert nodes["/aws/lambda/orders-handler"].status == UNKNOWN
    assert nodes["vol-root"].status == "child", "a root volume is a fact AWS records, whoever else may claim it"
    assert nodes["shared"].status == MANAGED and "a second owner cannot be ruled out" in nodes["shared"].reason


def test_security_group_peers_named_by_group_name_are_not_compared_and_cidrs_by_their_canonical_form():
    from graph.drift import compare
    from graph.resource_types import CATALOG

    group = CATALOG["AWS::EC2::SecurityGroup"]
    live_rules = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": "sg-0fd06"}],
                   "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]}]
    by_name_cfn = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "SourceSecurityGroupName": "trial-src"}]
    by_name_tf = [{"protocol": "tcp", "from_port": 443, "to_port": 443, "security_groups": ["trial-src"]}]
    for declared in (by_name_cfn, by_name_tf):
        assert compare(group, {"ingress": declared}, None, {"ingress": live_rules}, None) == []
    upper = [{"protocol": "tcp", "from_port": 443, "to_port": 443, "security_groups": ["sg-0fd06"],
              "ipv6_cidr_blocks": ["2001:DB8::/32"]}]
    assert compare(group, {"ingress": upper}, None, {"ingress": live_rules}, None) == []
    changed = [{"protocol": "tcp", "from_port": 443, "to_port": 443, "ipv6_cidr_blocks": ["2001:db9::/32"]}]
    assert compare(group, {"ingress": changed}, None, {"ingress": live_rules}, None) != []


def test_what_only_a_superseded_copy_declares_is_unknown_and_nothing_else_is():
    doubt = FailedSource("env/prod.tfstate", TERRAFORM, "superseded by env/stage.tfstate (same lineage L), which does "
                         "not declare it", A, R, frozenset({"AWS::SQS::Queue"}),
                         identifiers=frozenset({"lin-prod-q", "arn:aws:sqs:us-east-1:111122223333:lin-prod-q"}),
                         partial=False)
    checked = scope()
    checked.failed_sources.append(doubt)
    nodes = by_id(reconcile([live("AWS::SQS::Queue", "lin-prod-q"), live("AWS::SQS::Queue", "other-q")], [], checked))
    assert nodes["lin-prod-q"].status == UNKNOWN and "was set aside" in nodes["lin-prod-q"].reason
    assert nodes["other-q"].status == UNMANAGED


def test_a_stack_terraform_deploys_is_terraform_s_not_a_conflict_with_itself():
    """A deployed stack stands as its own code only while nothing else declares it (aws_cloudformation_stack)."""
    stack_id = f"arn:aws:cloudformation:{R}:{A}:stack/app/1"
    itself = Record(CLOUDFORMATION, "AWS::CloudFormation::Stack", A, R, stack_id, arn=stack_id, name="app",
                    owner=Owner("cloudformation", stack_id, "app", "cloudformation", stack_name="app"))
    by_terraform = tf("AWS::CloudFormation::Stack", stack_id, "aws_cloudformation_stack.app")
    graph = reconcile([live("AWS::CloudFormation::Stack", stack_id, arn=stack_id, name="app")], [itself, by_terraform],
                      scope())
    node = by_id(graph)[stack_id]
    assert (node.status, node.rule) == (MANAGED, "declared_and_live"), node.reason
    assert [d.owner.tool for d in node.declarations] == ["terraform"]
    # alone, the stack is its own code, as before
    alone = by_id(reconcile([live("AWS::CloudFormation::Stack", stack_id, arn=stack_id, name="app")], [itself], scope()))
    assert alone[stack_id].status == MANAGED and alone[stack_id].declarations[0].owner.tool == "cloudformation"
