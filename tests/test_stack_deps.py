"""Cross-stack dependencies: what templates say about other stacks (importers.stack_links), the dependency graph
of stacks, upgrade waves, cycles and blast radius (graph.stack_deps). Stacks, exports and imports are rows built
here, as the CloudFormation importer records them; templates are the real fixtures and the third-party corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS
from graph.stack_deps import StackEdge, blast_radius, dependency_graph, graph_edges, stack_edges, upgrade_waves
from importers.cfn_template import exported_names, imported_names, load_template, make_context
from importers.stack_links import StackReferences, reference_rows, references_from_rows, stack_references

REPO = Path(__file__).resolve().parents[1]
ORDERS_TEMPLATE = REPO / "fixtures" / "cdk" / "v2" / "cdk.out" / "orders-service.template.json"
BOOTSTRAP_TEMPLATE = REPO / "fixtures" / "cdk" / "bootstrap" / "bootstrap-template.yaml"
PAYMENTS_TEMPLATE = REPO / "fixtures" / "cfn" / "payments-network.yaml"
CFN_CORPUS = CORPUS / "cfn"
AWS_TEMPLATES = CFN_CORPUS / "aws-cloudformation__aws-cloudformation-templates"

ACCOUNT, OTHER_ACCOUNT = "111111111111", "222222222222"
EAST, WEST = "us-east-1", "eu-west-1"
BOOTSTRAP_NAME = "/cdk-bootstrap/hnb659fds/version"


def stack(stack_id: str, region: str = EAST, account: str = ACCOUNT, parent_id: str | None = None, name: str | None = None) -> dict:
    return {"id": stack_id, "name": name or stack_id, "account": account, "region": region,
            "parent_id": parent_id, "root_id": parent_id or stack_id}


def export_row(exporter: dict, name: str) -> dict:
    return {"stack_id": exporter["id"], "export_name": name, "account": exporter["account"], "region": exporter["region"]}


def import_row(importer: dict, name: str, exporting_stack_id: str | None = None) -> dict:
    return {"stack_id": importer["id"], "export_name": name, "exporting_stack_id": exporting_stack_id,
            "account": importer["account"], "region": importer["region"]}


def load(path: Path) -> dict:
    return load_template(path.read_text(), str(path))


def corpus_template(relative: str) -> dict:
    path = AWS_TEMPLATES / relative
    if not path.is_file():
        pytest.skip(f"third-party corpus not present at {path} (it lives outside the repo, in ../shared)")
    return load(path)


def chained(links: dict[str, list[str]], stacks: list[dict]) -> tuple[list[dict], list[dict]]:
    """(imports, exports) where each stack in `links` imports one export of each stack it lists (matched by scope:
    the rows leave the exporter to be found, as when ListExports failed)."""
    by_id = {s["id"]: s for s in stacks}
    exports = [export_row(by_id[needed], f"{needed}-out") for needed in sorted({n for ns in links.values() for n in ns})]
    imports = [import_row(by_id[dependent], f"{needed}-out") for dependent, needs in links.items() for needed in needs]
    return imports, exports


# ------------------------------------------------------------------------------------------ waves and cycles


def test_waves_of_a_chain_follow_the_exports():
    stacks = [stack("C"), stack("A"), stack("B")]
    imports, exports = chained({"B": ["A"], "C": ["B"]}, stacks)
    graph = dependency_graph(stacks, imports, exports, {})
    assert upgrade_waves(graph) == ([["A"], ["B"], ["C"]], [])
    assert graph.edges["B", "A"]["vias"] == ["export A-out"]
    assert graph_edges(graph) == [StackEdge("B", "A", "export A-out"), StackEdge("C", "B", "export B-out")]


def test_waves_of_a_diamond_put_each_stack_after_all_it_imports_from():
    stacks = [stack(s) for s in "ABCDE"]
    imports, exports = chained({"B": ["A"], "C": ["A"], "D": ["B", "C"]}, stacks)
    expected = ([["A", "E"], ["B", "C"], ["D"]], [])
    assert upgrade_waves(dependency_graph(stacks, imports, exports, {})) == expected
    # the order rows arrive in changes nothing
    assert upgrade_waves(dependency_graph(stacks[::-1], imports[::-1], exports[::-1], {})) == expected


def test_a_cycle_is_named_and_placed_together_after_what_it_depends_on():
    stacks = [stack(s) for s in ("A", "X", "Y", "Z")]
    imports, exports = chained({"X": ["Y", "A"], "Y": ["X"], "Z": ["X"]}, stacks)
    waves, cycles = upgrade_waves(dependency_graph(stacks, imports, exports, {}))
    assert cycles == [["X", "Y"]]
    assert waves == [["A"], ["X", "Y"], ["Z"]]
    assert sorted(s for wave in waves for s in wave) == ["A", "X", "Y", "Z"]  # never dropped


def test_two_cycles_are_each_named():
    stacks = [stack(s) for s in ("P", "Q", "R", "S", "T")]
    imports, exports = chained({"P": ["Q"], "Q": ["P"], "R": ["S", "Q"], "S": ["T"], "T": ["R"]}, stacks)
    waves, cycles = upgrade_waves(dependency_graph(stacks, imports, exports, {}))
    assert cycles == [["P", "Q"], ["R", "S", "T"]]
    assert waves == [["P", "Q"], ["R", "S", "T"]]


def test_no_stacks_no_waves():
    assert upgrade_waves(dependency_graph([], [], [], {})) == ([], [])


# ------------------------------------------------------------------------------------------ exports


def test_an_import_matches_an_export_of_its_own_account_and_region_only():
    east, west, other = stack("P-east"), stack("P-west", WEST), stack("P-other", account=OTHER_ACCOUNT)
    i_east, i_west, i_lost = stack("I-east"), stack("I-west", WEST), stack("I-lost", WEST, OTHER_ACCOUNT)
    exports = [export_row(s, "shared-vpc-id") for s in (east, west, other)]
    imports = [import_row(s, "shared-vpc-id") for s in (i_east, i_west, i_lost)]
    stacks = [east, west, other, i_east, i_west, i_lost]
    assert stack_edges(stacks, imports, exports, {}) == [
        StackEdge("I-east", "P-east", "export shared-vpc-id"),
        StackEdge("I-lost", None, "export shared-vpc-id"),
        StackEdge("I-west", "P-west", "export shared-vpc-id"),
    ]


def test_an_import_whose_exporter_is_unknown_is_kept_as_unmet():
    importer, known = stack("I"), stack("P")
    imports = [import_row(importer, "gone-export"), import_row(importer, "p-out", "arn:stack/deleted")]
    graph = dependency_graph([importer, known], imports, [], {})
    unmet = [StackEdge("I", "arn:stack/deleted", "export p-out"), StackEdge("I", None, "export gone-export")]
    assert graph.graph["unmet"] == graph.nodes["I"]["unmet"] == unmet
    assert list(graph.edges) == []
    assert upgrade_waves(graph) == ([["I", "P"]], [])


def test_the_exporter_listexports_named_is_trusted():
    importer, exporter, namesake = stack("I"), stack("P"), stack("Q")
    exports = [export_row(namesake, "x")]  # a stale row of another stack: ListExports' answer wins
    edges = stack_edges([importer, exporter, namesake], [import_row(importer, "x", "P")], exports, {})
    assert edges == [StackEdge("I", "P", "export x")]


def test_corpus_services_depend_on_the_cluster_of_their_own_region():
    """The ECS samples: a cluster stack exports `${AWS::StackName}:...`, a service imports `${StackName}:...`.
    Both clusters are deployed as "production", one per region: each service needs its own region's."""
    fargate_cluster = corpus_template("ECS/FargateLaunchType/clusters/public-vpc.yaml")
    fargate_service = corpus_template("ECS/FargateLaunchType/services/public-service.yaml")
    ec2_cluster = corpus_template("ECS/EC2LaunchType/clusters/private-vpc.json")
    ec2_service = corpus_template("ECS/EC2LaunchType/services/private-service.yaml")
    stacks = [stack("cluster-east", EAST, name="production"), stack("service-east", EAST, name="web"),
              stack("cluster-west", WEST, name="production"), stack("service-west", WEST, name="api")]
    templates = {"cluster-east": fargate_cluster, "service-east": fargate_service,
                 "cluster-west": ec2_cluster, "service-west": ec2_service}
    exports, imports = [], []
    for row in stacks:
        template = templates[row["id"]]
        context = make_context(template, account=ACCOUNT, region=row["region"], stack_name=row["name"])
        exports += [export_row(row, name) for name in exported_names(template, context) if isinstance(name, str)]
        imports += [import_row(row, name) for name in imported_names(template, context) if isinstance(name, str)]
    graph = dependency_graph(stacks, imports, exports, {})
    assert sorted(graph.edges) == [("service-east", "cluster-east"), ("service-west", "cluster-west")]
    assert graph.edges["service-east", "cluster-east"]["vias"] == [
        f"export production:{name}" for name in sorted(["ClusterName", "ECSTaskExecutionRole",
                                                        "FargateContainerSecurityGroup", "PublicListener",
                                                        "PublicSubnetOne", "PublicSubnetTwo", "VPCId"])
    ]
    assert graph.edges["service-west", "cluster-west"]["vias"] == [
        "export production:ClusterName", "export production:PrivateListener", "export production:VPCId"
    ]
    assert graph.graph["unmet"] == []
    assert upgrade_waves(graph) == ([["cluster-east", "cluster-west"], ["service-east", "service-west"]], [])


# ------------------------------------------------------------------------------------------ SSM and the bootstrap


CONSUMER_TEMPLATE = {
    "Parameters": {
        "OrdersVpc": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/orders/vpc-id"},
        "Ami": {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
                "Default": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64"},
    },
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Ref": "OrdersVpc"}}}},
}


def test_a_stack_reading_a_parameter_another_writes_depends_on_it():
    """orders-service (the real CDK v2 fixture) writes /orders/vpc-id and checks the bootstrap version that the
    CDKToolkit template writes; a consumer reads /orders/vpc-id through an SSM-typed parameter."""
    orders = stack("orders")
    toolkit = stack("CDKToolkit")
    consumer, far_consumer = stack("consumer"), stack("consumer-west", WEST)
    references = {
        "orders": stack_references(load(ORDERS_TEMPLATE)),
        "CDKToolkit": stack_references(load(BOOTSTRAP_TEMPLATE)),
        "consumer": stack_references(CONSUMER_TEMPLATE),
        "consumer-west": stack_references(CONSUMER_TEMPLATE),
    }
    edges = stack_edges([orders, toolkit, consumer, far_consumer], [], [], references)
    assert edges == [
        StackEdge("consumer", "orders", "ssm /orders/vpc-id"),
        # the other region has no /orders/vpc-id: unmet; AWS's public AMI parameter is nobody's to write
        StackEdge("consumer-west", None, "ssm /orders/vpc-id"),
        StackEdge("orders", "CDKToolkit", f"bootstrap {BOOTSTRAP_NAME}"),
    ]
    waves, _ = upgrade_waves(dependency_graph([orders, toolkit, consumer, far_consumer], [], [], references))
    assert waves == [["CDKToolkit", "consumer-west"], ["orders"], ["consumer"]]


def test_a_stack_reading_its_own_parameter_makes_no_edge():
    template = {"Parameters": {"Self": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/own/value"}},
                "Resources": {"Own": {"Type": "AWS::SSM::Parameter",
                                      "Properties": {"Name": "/own/value", "Type": "String", "Value": "x"}}}}
    references = {"S": stack_references(template)}
    assert references["S"].ssm_writes == references["S"].ssm_reads == ("/own/value",)
    assert stack_edges([stack("S")], [], [], references) == []


def test_the_bootstrap_version_is_its_own_kind_of_reference():
    orders = stack_references(load(ORDERS_TEMPLATE))
    assert orders == StackReferences(ssm_writes=("/orders/vpc-id",), bootstrap=(BOOTSTRAP_NAME,))
    # a deployed stack reads the parameter its deployment names, not the template's default
    deployed = stack_references(load(ORDERS_TEMPLATE), parameters={"BootstrapVersion": "/cdk-bootstrap/custom/version"})
    assert deployed.bootstrap == ("/cdk-bootstrap/custom/version",)
    # ...and the bootstrap stack writes the one its Qualifier names
    assert stack_references(load(BOOTSTRAP_TEMPLATE)).ssm_writes == (BOOTSTRAP_NAME,)
    toolkit = stack_references(load(BOOTSTRAP_TEMPLATE), parameters={"Qualifier": "custom"})
    assert toolkit.ssm_writes == ("/cdk-bootstrap/custom/version",)


def test_a_missing_bootstrap_is_an_unmet_dependency():
    references = {"orders": stack_references(load(ORDERS_TEMPLATE)),
                  "CDKToolkit": stack_references(load(BOOTSTRAP_TEMPLATE))}
    graph = dependency_graph([stack("orders"), stack("CDKToolkit", WEST)], [], [], references)
    assert graph.nodes["orders"]["unmet"] == [StackEdge("orders", None, f"bootstrap {BOOTSTRAP_NAME}")]
    assert graph.nodes["orders"]["unmet"][0].kind == "bootstrap"


def test_fixture_templates_say_what_they_write():
    assert stack_references(load(PAYMENTS_TEMPLATE)) == StackReferences(ssm_writes=("/payments/admin-password",))


def test_dynamic_references_are_read_wherever_they_resolve():
    template = {
        "Parameters": {"Env": {"Type": "String", "Default": "prod"}, "Unknown": {"Type": "String"},
                       "Flag": {"Type": "String"}},
        "Conditions": {"Off": {"Fn::Equals": ["a", "b"]}, "Maybe": {"Fn::Equals": [{"Ref": "Flag"}, "yes"]}},
        "Resources": {
            "Versioned": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "{{resolve:ssm:/app/url:3}}"}},
            "Built": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Fn::Sub": "{{resolve:ssm:/${Env}/db-host}}"}}},
            "Unknowable": {"Type": "AWS::SNS::Topic",
                           "Properties": {"DisplayName": {"Fn::Sub": "{{resolve:ssm:/${Unknown}/db-host}}"}}},
            "Either": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {
                "Fn::If": ["Maybe", "{{resolve:ssm:/blue/url}}", "{{resolve:ssm:/green/url}}"]}}},
            "Secure": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "{{resolve:ssm-secure:/app/password}}"}},
            "Shared": {"Type": "AWS::SNS::Topic", "Properties": {
                "DisplayName": "{{resolve:ssm:arn:aws:ssm:eu-west-1:222222222222:parameter/shared/vpc}}"}},
            "Gone": {"Type": "AWS::SNS::Topic", "Condition": "Off",
                     "Properties": {"DisplayName": "{{resolve:ssm:/never/read}}"}},
        },
    }
    references = stack_references(template)
    assert references.ssm_reads == (
        "/app/url", "/blue/url", "/green/url", "/prod/db-host",
        "arn:aws:ssm:eu-west-1:222222222222:parameter/shared/vpc",
    )
    assert references.unresolved == ("resource Unknowable: an SSM dynamic reference whose name is not known",)


def test_a_parameter_arn_matches_its_own_account_and_region():
    reader = StackReferences(ssm_reads=("arn:aws:ssm:eu-west-1:222222222222:parameter/shared/vpc",))
    writer = StackReferences(ssm_writes=("/shared/vpc",))
    stacks = [stack("reader"), stack("writer", WEST, OTHER_ACCOUNT), stack("namesake", EAST)]
    references = {"reader": reader, "writer": writer, "namesake": writer}
    assert stack_edges(stacks, [], [], references) == [
        StackEdge("reader", "writer", "ssm arn:aws:ssm:eu-west-1:222222222222:parameter/shared/vpc")
    ]


def test_ssm_writes_take_the_deployed_name_and_say_what_they_cannot_name():
    template = {
        "Parameters": {"Prefix": {"Type": "String"}},
        "Resources": {
            "Unnamed": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "x"}},
            "Prefixed": {"Type": "AWS::SSM::Parameter",
                         "Properties": {"Name": {"Fn::Sub": "/${Prefix}/url"}, "Type": "String", "Value": "x"}},
        },
    }
    assert stack_references(template) == StackReferences(
        unresolved=("resource Prefixed: the name of the SSM parameter it writes is not known",)
    )
    deployed = make_context(template, physical_ids={"Unnamed": "CFN-Unnamed-1AB2", "Prefixed": "/team/url"},
                            use_defaults=False)
    assert stack_references(template, context=deployed).ssm_writes == ("/team/url", "CFN-Unnamed-1AB2")
    # the deployment's parameter values resolve the name as well
    assert stack_references(template, parameters={"Prefix": "team"}).ssm_writes == ("/team/url",)


def test_a_no_echo_ssm_parameter_is_not_read():
    template = {"Parameters": {"Hidden": {"Type": "AWS::SSM::Parameter::Value<String>", "NoEcho": True,
                                          "Default": "/hidden/name"}},
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    references = stack_references(template, parameters={"Hidden": "****"})
    assert references.ssm_reads == ()
    assert references.unresolved == ("parameter Hidden: NoEcho, the SSM parameter it reads is not shown",)


def test_corpus_templates_read_aws_public_parameters_through_types_and_dynamic_references():
    by_type = stack_references(corpus_template("ECS/ECS_Schedule_Example.yaml"))
    assert by_type.ssm_reads == ("/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",)
    dynamic = stack_references(corpus_template("EC2/InstanceWithCfnInit.yaml"))
    assert dynamic.ssm_reads == ("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64",)
    # AWS's public parameters are nobody's to write: no unmet dependency
    assert stack_edges([stack("S")], [], [], {"S": dynamic}) == []


# ------------------------------------------------------------------------------------------ nested stacks


def test_a_parent_depends_on_its_nested_stacks():
    parent = stack("P")
    first, second = stack("C1", parent_id="P", name="P-Db-1A2B"), stack("C2", parent_id="P", name="P-Net-3C4D")
    orphan = stack("C3", parent_id="unscanned-parent", name="unscanned-parent-Logs-5E6F")
    references = {"P": StackReferences(nested=("Cache", "Db", "Net"))}
    graph = dependency_graph([parent, first, second, orphan], [], [], references)
    assert graph_edges(graph) == [StackEdge("P", "C1", "nested"), StackEdge("P", "C2", "nested")]
    # the parent declares three children, two are scanned: the third is named
    assert graph.nodes["P"]["unmet"] == [StackEdge("P", None, "nested Cache")]
    assert StackEdge("unscanned-parent", "C3", "nested") in graph.graph["unmet"]
    assert upgrade_waves(graph) == ([["C1", "C2", "C3"], ["P"]], [])


def test_real_nested_stack_templates():
    accepter = stack_references(corpus_template("Solutions/VPCPeering/templates/VPCPeering-Accepter.main.cfn.yaml"))
    assert accepter.nested == ("VPCPeeringAccepterTagStack", "VPCPeeringUpdatesStack")
    # nested stacks under a condition exist only when the deployment's parameters make it true
    flow_logs = corpus_template("Solutions/VPCFlowLogs/templates/VPCFlowLogs-main.cfn.yaml")
    assert stack_references(flow_logs).nested == ()  # both default to No
    deployed = stack_references(flow_logs, parameters={"CreateVPCFlowLogsToS3": "true",
                                                       "CreateVPCFlowLogsToCloudWatch": "false"})
    assert deployed.nested == ("VPCFlowLogsS3Stack",)


def test_a_sam_application_is_a_nested_stack():
    path = CFN_CORPUS / "aws__serverless-application-model" / "examples" / "2016-10-31" / "nested_app" / "template.yaml"
    if not path.is_file():
        pytest.skip(f"third-party corpus not present at {path} (it lives outside the repo, in ../shared)")
    assert stack_references(load(path)).nested == ("TwitterEventSourceApp",)


# ------------------------------------------------------------------------------------------ cross-region


def cross_region_templates(reader_region, writer_target: str = WEST) -> tuple[dict, dict]:
    """Producer and consumer as aws-cdk-lib 2.x synthesizes `crossRegionReferences` (a queue's ARN in us-east-1 read
    by a topic in eu-west-1), trimmed to the resources that matter."""
    name = "/cdk/exports/xr-consumer/xrproduceruseast1FnGetAttQueue4A7E3555Arn1C2BB934"
    producer = {"Resources": {
        "Queue4A7E3555": {"Type": "AWS::SQS::Queue"},
        "ExportsWritereuwest142AF533A3E3B99E4": {"Type": "Custom::CrossRegionExportWriter", "Properties": {
            "ServiceToken": {"Fn::GetAtt": ["CustomCrossRegionExportWriterCustomResourceProviderHandlerD8786E8A", "Arn"]},
            "WriterProps": {"region": writer_target, "exports": {name: {"Fn::GetAtt": ["Queue4A7E3555", "Arn"]}}}}},
    }}
    consumer = {"Resources": {
        "TopicBFC7AF6E": {"Type": "AWS::SNS::Topic",
                          "Properties": {"DisplayName": {"Fn::GetAtt": ["ExportsReader8B249524", name]}}},
        "ExportsReader8B249524": {"Type": "Custom::CrossRegionExportReader", "Properties": {
            "ServiceToken": {"Fn::GetAtt": ["CustomCrossRegionExportReaderCustomResourceProviderHandler46647B68", "Arn"]},
            "ReaderProps": {"region": reader_region, "prefix": "xr-consumer",
                            "imports": {name: "{{resolve:ssm:" + name + "}}"}}}},
    }}
    return producer, consumer


XR_NAME = "/cdk/exports/xr-consumer/xrproduceruseast1FnGetAttQueue4A7E3555Arn1C2BB934"


def test_cross_region_references_are_read_from_cdk_custom_resources():
    producer, consumer = cross_region_templates(WEST)
    assert stack_references(producer) == StackReferences(cross_region_writes=((WEST, XR_NAME),))
    # the reader's {{resolve:ssm:...}} is the cross-region read itself, not one more SSM read
    assert stack_references(consumer) == StackReferences(cross_region_reads=((WEST, XR_NAME),))
    _, by_ref = cross_region_templates({"Ref": "AWS::Region"})
    assert stack_references(by_ref, context=make_context(by_ref, region=WEST)).cross_region_reads == ((WEST, XR_NAME),)
    assert stack_references(by_ref).cross_region_reads == ((None, XR_NAME),)


@pytest.mark.parametrize("reader_region", [WEST, {"Ref": "AWS::Region"}])
def test_a_cross_region_consumer_depends_on_its_producer_across_regions(reader_region):
    producer, consumer = cross_region_templates(reader_region)
    stacks = [stack("xr-producer", EAST), stack("xr-consumer", WEST),
              stack("stranger", WEST, OTHER_ACCOUNT)]  # another account: CDK shares no references there
    references = {"xr-producer": stack_references(producer), "xr-consumer": stack_references(consumer),
                  "stranger": stack_references(consumer)}
    assert stack_edges(stacks, [], [], references) == [
        StackEdge("stranger", None, f"cross-region {XR_NAME}"),
        StackEdge("xr-consumer", "xr-producer", f"cross-region {XR_NAME}"),
    ]


def test_a_cross_region_read_matches_the_region_written_to():
    producer, consumer = cross_region_templates(WEST, writer_target="ap-southeast-2")  # written elsewhere
    stacks = [stack("xr-producer", EAST), stack("xr-consumer", WEST)]
    references = {"xr-producer": stack_references(producer), "xr-consumer": stack_references(consumer)}
    graph = dependency_graph(stacks, [], [], references)
    assert list(graph.edges) == []
    assert graph.nodes["xr-consumer"]["unmet"] == [StackEdge("xr-consumer", None, f"cross-region {XR_NAME}")]


# ------------------------------------------------------------------------------------------ manifest, blast radius


def test_manifest_edges_join_the_graph():
    stacks = [stack("A"), stack("B")]
    manifest = [StackEdge("B", "A", "manifest"), StackEdge("B", "not-deployed", "manifest")]
    graph = dependency_graph(stacks, [], [], {}, manifest)
    assert graph.edges["B", "A"]["vias"] == ["manifest"]
    assert graph.nodes["B"]["unmet"] == [StackEdge("B", "not-deployed", "manifest")]
    assert upgrade_waves(graph) == ([["A"], ["B"]], [])


def test_all_the_facts_between_two_stacks_are_kept_on_their_edge():
    stacks = [stack("A"), stack("B")]
    imports, exports = chained({"B": ["A"]}, stacks)
    references = {"A": StackReferences(ssm_writes=("/a/url",)), "B": StackReferences(ssm_reads=("/a/url",))}
    graph = dependency_graph(stacks, imports, exports, references, [StackEdge("B", "A", "manifest")])
    assert graph.edges["B", "A"]["vias"] == ["export A-out", "manifest", "ssm /a/url"]


def test_blast_radius_is_every_stack_that_depends_transitively():
    stacks = [stack(s) for s in "ABCDE"]
    imports, exports = chained({"B": ["A"], "C": ["A"], "D": ["B", "C"]}, stacks)
    graph = dependency_graph(stacks, imports, exports, {})
    assert blast_radius(graph, "A") == ["B", "C", "D"]
    assert blast_radius(graph, "B") == ["D"]
    assert blast_radius(graph, "D") == []
    assert blast_radius(graph, "E") == []
    with pytest.raises(KeyError):
        blast_radius(graph, "nope")


def test_blast_radius_through_a_cycle_and_by_kind():
    stacks = [stack(s) for s in ("A", "X", "Y", "Z")]
    imports, exports = chained({"X": ["Y", "A"], "Y": ["X"], "Z": ["X"]}, stacks)
    graph = dependency_graph(stacks, imports, exports, {})
    assert blast_radius(graph, "A") == ["X", "Y", "Z"]
    assert blast_radius(graph, "Y") == ["X", "Z"]

    stacks = [stack("A"), stack("B"), stack("C")]
    imports, exports = chained({"B": ["A"]}, stacks)
    references = {"A": StackReferences(ssm_writes=("/a/url",)), "C": StackReferences(ssm_reads=("/a/url",))}
    graph = dependency_graph(stacks, imports, exports, references)
    assert blast_radius(graph, "A") == ["B", "C"]
    assert blast_radius(graph, "A", kinds=("export",)) == ["B"]
    assert blast_radius(graph, "A", kinds=("nested",)) == []


# ------------------------------------------------------------------------------------------ odds and ends


def test_no_template_says_nothing():
    assert stack_references(None) == StackReferences()
    assert stack_references({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}) == StackReferences()


def test_references_survive_the_store_as_rows():
    producer, consumer = cross_region_templates(WEST)
    references = {
        "orders": stack_references(load(ORDERS_TEMPLATE)),
        "xr-producer": stack_references(producer),
        "xr-consumer": stack_references(consumer),
        "partial": StackReferences(nested=("Child",), unresolved=("a note", "b note")),
    }
    rows = [row for stack_id, refs in references.items() for row in reference_rows(stack_id, refs)]
    json.dumps(rows)  # plain data, as a store keeps it
    assert references_from_rows(rows[::-1]) == references
