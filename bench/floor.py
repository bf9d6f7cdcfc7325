#!/usr/bin/env python3
"""The floor for `reroll plan`: only the describe calls any tool needs to plan a stack.

Reads, with boto3 and no logic beyond pagination and batching at the services' limits, what
a plan of the stack needs to know: the stack's Auto Scaling groups, instances, launch
templates (and the versions its groups use), target groups (with tags and attributes), load
balancers (with tags and listeners), the image, and the VPC, subnets and security group. One
call after another, as a plain script would.

Prints one JSON object: {"seconds": <time spent in API calls>, "calls": {"Op": n, ...}}.
Interpreter start and imports are not counted: `seconds` is the API work only.

Usage: floor.py --endpoint-url URL --stack NAME --image NAME [--region R]
"""

import argparse
import json
import time
from collections import Counter

import boto3

STACK_TAG = "reroll:stack"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint-url", required=True)
    p.add_argument("--stack", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--region", default="us-east-1")
    a = p.parse_args()
    kw = dict(
        endpoint_url=a.endpoint_url,
        region_name=a.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    ec2 = boto3.client("ec2", **kw)
    asg = boto3.client("autoscaling", **kw)
    elb = boto3.client("elbv2", **kw)
    calls = Counter()

    def pages(client, op, key, **params):
        out = []
        for page in client.get_paginator(op).paginate(**params):
            calls[op] += 1
            out.extend(page.get(key, []))
        return out

    def call(client, op, **params):
        calls[op] += 1
        return getattr(client, op)(**params)

    started = time.perf_counter()
    stack_filter = [{"Name": "tag:" + STACK_TAG, "Values": [a.stack]}]

    groups = pages(
        asg,
        "describe_auto_scaling_groups",
        "AutoScalingGroups",
        Filters=[{"Name": "tag:" + STACK_TAG, "Values": [a.stack]}],
        PaginationConfig={"PageSize": 100},
    )
    reservations = pages(
        ec2,
        "describe_instances",
        "Reservations",
        Filters=stack_filter
        + [{"Name": "instance-state-name", "Values": ["pending", "running"]}],
        PaginationConfig={"PageSize": 1000},
    )
    templates = pages(
        ec2,
        "describe_launch_templates",
        "LaunchTemplates",
        Filters=stack_filter,
        PaginationConfig={"PageSize": 200},
    )
    used = {}
    for g in groups:
        lt = g.get("LaunchTemplate") or {}
        if lt.get("LaunchTemplateId"):
            used.setdefault(lt["LaunchTemplateId"], set()).add(lt.get("Version", "$Default"))
    for lt_id, versions in used.items():
        call(
            ec2,
            "describe_launch_template_versions",
            LaunchTemplateId=lt_id,
            Versions=sorted(versions),
        )

    tgs = pages(
        elb, "describe_target_groups", "TargetGroups", PaginationConfig={"PageSize": 400}
    )
    lbs = pages(
        elb, "describe_load_balancers", "LoadBalancers", PaginationConfig={"PageSize": 400}
    )
    arns = [t["TargetGroupArn"] for t in tgs] + [l["LoadBalancerArn"] for l in lbs]
    owned = set()
    for i in range(0, len(arns), 20):
        for d in call(elb, "describe_tags", ResourceArns=arns[i : i + 20])["TagDescriptions"]:
            if any(t["Key"] == STACK_TAG and t["Value"] == a.stack for t in d.get("Tags", [])):
                owned.add(d["ResourceArn"])
    for t in tgs:
        if t["TargetGroupArn"] in owned:
            # The deregistration delay is an attribute, not part of the description.
            call(elb, "describe_target_group_attributes", TargetGroupArn=t["TargetGroupArn"])
    for l in lbs:
        if l["LoadBalancerArn"] in owned:
            pages(elb, "describe_listeners", "Listeners", LoadBalancerArn=l["LoadBalancerArn"])

    call(
        ec2,
        "describe_images",
        Owners=["self"],
        Filters=[{"Name": "name", "Values": [a.image]}],
    )
    vpcs = call(ec2, "describe_vpcs", Filters=[{"Name": "tag:Name", "Values": ["demo"]}])["Vpcs"]
    vpc = vpcs[0]["VpcId"]
    call(
        ec2,
        "describe_subnets",
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "tag:tier", "Values": ["private"]},
        ],
    )
    call(
        ec2,
        "describe_security_groups",
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "group-name", "Values": ["demo-web"]},
        ],
    )
    seconds = time.perf_counter() - started
    instances = sum(len(r["Instances"]) for r in reservations)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "calls": dict(calls),
                "groups": len(groups),
                "instances": instances,
                "templates": len(templates),
            }
        )
    )


if __name__ == "__main__":
    main()
