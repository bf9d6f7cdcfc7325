#!/usr/bin/env python3
"""Seed the local AWS emulator with a realistic baseline for reroll.

Per region: a VPC 10.0.0.0/16 tagged Name=demo, two private subnets in
<region>a and <region>b (tier=private, Name=demo-private-a/b) and a security
group demo-web. In the first region only: two baked AMIs owned by the
calling account, demo-app-1.0.0 and demo-app-1.1.0 (tags app=demo,
version=...), so cross-region image copy can be demonstrated.

With --split, the first region holds only the AMIs and the others only the
network: a restore into another region from scratch.

Idempotent: every resource is looked up first and only created if missing.
Run with the emulator venv's python (see seed.sh).
"""

import argparse
import json
import os
import sys

VPC_CIDR = "10.0.0.0/16"
VPC_NAME = "demo"
ALARM_NAME = "demo-5xx"
# /20s: room for thousands of instances (moto places a group's instances in its first subnet).
SUBNETS = [("a", "10.0.16.0/20"), ("b", "10.0.32.0/20")]
SG_NAME = "demo-web"
AMI_PREFIX = "demo-app"
AMI_VERSIONS = ["1.0.0", "1.1.0"]
DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
DEFAULT_REGION = "us-east-1"


def tags(**kv):
    return [{"Key": k, "Value": v} for k, v in kv.items()]


def spec(resource_type, **kv):
    return [{"ResourceType": resource_type, "Tags": tags(**kv)}]


class Seeder:
    def __init__(self, session, endpoint_url, region, log):
        self.region = region
        self.ec2 = session.client("ec2", region_name=region, endpoint_url=endpoint_url)
        self.cloudwatch = session.client("cloudwatch", region_name=region, endpoint_url=endpoint_url)
        self.log = log
        self.created = []

    def note(self, kind, ident, name, created):
        if created:
            self.created.append(ident)
        self.log(f"{self.region}: {'created' if created else 'found  '} {kind} {ident} ({name})")

    def vpc(self):
        found = self.ec2.describe_vpcs(
            Filters=[
                {"Name": "tag:Name", "Values": [VPC_NAME]},
                {"Name": "cidr-block", "Values": [VPC_CIDR]},
            ]
        )["Vpcs"]
        if found:
            vpc_id = sorted(v["VpcId"] for v in found)[0]
            self.note("vpc", vpc_id, VPC_NAME, False)
            return vpc_id
        vpc_id = self.ec2.create_vpc(
            CidrBlock=VPC_CIDR, TagSpecifications=spec("vpc", Name=VPC_NAME)
        )["Vpc"]["VpcId"]
        # TagSpecifications are honoured by moto for VPCs; tag again to be safe
        # against emulators that ignore them.
        self.ec2.create_tags(Resources=[vpc_id], Tags=tags(Name=VPC_NAME))
        self.ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
        self.ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        self.note("vpc", vpc_id, VPC_NAME, True)
        return vpc_id

    def subnets(self, vpc_id):
        out = []
        for suffix, cidr in SUBNETS:
            az = f"{self.region}{suffix}"
            name = f"{VPC_NAME}-private-{suffix}"
            found = self.ec2.describe_subnets(
                Filters=[
                    {"Name": "vpc-id", "Values": [vpc_id]},
                    {"Name": "cidr-block", "Values": [cidr]},
                ]
            )["Subnets"]
            if found:
                subnet = found[0]
                created = False
            else:
                subnet = self.ec2.create_subnet(
                    VpcId=vpc_id,
                    CidrBlock=cidr,
                    AvailabilityZone=az,
                    TagSpecifications=spec("subnet", Name=name, tier="private"),
                )["Subnet"]
                created = True
            self.ec2.create_tags(
                Resources=[subnet["SubnetId"]], Tags=tags(Name=name, tier="private")
            )
            self.note("subnet", subnet["SubnetId"], f"{name}, {subnet['AvailabilityZone']}", created)
            out.append(
                {
                    "id": subnet["SubnetId"],
                    "name": name,
                    "availability_zone": subnet["AvailabilityZone"],
                    "cidr": cidr,
                }
            )
        return out

    def security_group(self, vpc_id):
        found = self.ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "group-name", "Values": [SG_NAME]},
            ]
        )["SecurityGroups"]
        if found:
            sg_id = found[0]["GroupId"]
            self.note("security group", sg_id, SG_NAME, False)
            return sg_id
        sg_id = self.ec2.create_security_group(
            GroupName=SG_NAME,
            Description="demo web tier: HTTP from inside the VPC",
            VpcId=vpc_id,
            TagSpecifications=spec("security-group", Name=SG_NAME),
        )["GroupId"]
        self.ec2.authorize_security_group_ingress(
            GroupId=sg_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 80,
                    "ToPort": 80,
                    "IpRanges": [{"CidrIp": VPC_CIDR, "Description": "HTTP from the VPC"}],
                }
            ],
        )
        self.note("security group", sg_id, SG_NAME, True)
        return sg_id

    def amis(self):
        out = []
        for version in AMI_VERSIONS:
            name = f"{AMI_PREFIX}-{version}"
            found = self.ec2.describe_images(
                Owners=["self"], Filters=[{"Name": "name", "Values": [name]}]
            )["Images"]
            if found:
                image_id = sorted(found, key=lambda i: i["ImageId"])[0]["ImageId"]
                created = False
            else:
                image_id = self.ec2.register_image(
                    Name=name,
                    Description=f"demo app {version}, baked",
                    Architecture="x86_64",
                    RootDeviceName="/dev/xvda",
                    VirtualizationType="hvm",
                    EnaSupport=True,
                    BlockDeviceMappings=[
                        {
                            "DeviceName": "/dev/xvda",
                            "Ebs": {"VolumeSize": 8, "VolumeType": "gp3", "DeleteOnTermination": True},
                        }
                    ],
                )["ImageId"]
                created = True
            # moto ignores TagSpecifications on RegisterImage: tag explicitly.
            self.ec2.create_tags(
                Resources=[image_id], Tags=tags(Name=name, app="demo", version=version)
            )
            self.note("image", image_id, name, created)
            out.append({"id": image_id, "name": name, "version": version})
        return out

    def alarm(self):
        """A CloudWatch alarm the example stacks gate their rollouts on, left in OK."""
        found = self.cloudwatch.describe_alarms(AlarmNames=[ALARM_NAME])["MetricAlarms"]
        if not found:
            self.cloudwatch.put_metric_alarm(
                AlarmName=ALARM_NAME,
                Namespace="AWS/ApplicationELB",
                MetricName="HTTPCode_Target_5XX_Count",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=10,
                ComparisonOperator="GreaterThanThreshold",
            )
            self.cloudwatch.set_alarm_state(
                AlarmName=ALARM_NAME, StateValue="OK", StateReason="seeded"
            )
        self.note("alarm", ALARM_NAME, "5xx gate", not found)
        return ALARM_NAME

    def run(self, with_amis, with_network=True):
        if with_network:
            vpc_id = self.vpc()
            subnets = self.subnets(vpc_id)
            sg_id = self.security_group(vpc_id)
        else:
            vpc_id, subnets, sg_id = None, [], None
        amis = self.amis() if with_amis else []
        alarm = self.alarm() if with_amis else None
        return {
            "region": self.region,
            "vpc_id": vpc_id,
            "subnet_ids": [s["id"] for s in subnets],
            "subnets": subnets,
            "security_group_id": sg_id,
            "ami_ids": [a["id"] for a in amis],
            "amis": amis,
            "alarm": alarm,
            "created": self.created,
        }


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT),
        help=f"emulator endpoint (default: $AWS_ENDPOINT_URL or {DEFAULT_ENDPOINT})",
    )
    p.add_argument("--region", help=f"region to seed (default: {DEFAULT_REGION})")
    p.add_argument(
        "--regions",
        help="comma-separated regions; networks in each, AMIs only in the first",
    )
    p.add_argument(
        "--split",
        action="store_true",
        help="with --regions: the first region holds only the AMIs, the others only the "
        "network (a restore into a region from scratch)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    args = p.parse_args(argv)
    regions = []
    for item in (args.region, args.regions):
        if item:
            regions += [r.strip() for r in item.split(",") if r.strip()]
    if not regions:
        regions = [DEFAULT_REGION]
    args.region_list = list(dict.fromkeys(regions))
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        sys.exit("seed.py: boto3 is missing; run localstack/install.sh and use localstack/.venv/bin/python")

    session = boto3.session.Session()
    def log(msg):
        print(msg, file=sys.stderr)

    try:
        sts = session.client(
            "sts",
            region_name=args.region_list[0],
            endpoint_url=args.endpoint_url,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5),
        )
        account = sts.get_caller_identity()["Account"]
        results = []
        for i, region in enumerate(args.region_list):
            seeder = Seeder(session, args.endpoint_url, region, log)
            with_network = not (args.split and i == 0)
            results.append(seeder.run(with_amis=(i == 0), with_network=with_network))
    except (BotoCoreError, ClientError) as e:
        sys.exit(f"seed.py: {e} (is the emulator running at {args.endpoint_url}? see localstack/start.sh)")

    primary = dict(results[0])
    summary = {
        "endpoint_url": args.endpoint_url,
        "account_id": account,
        **primary,
        "created": [i for r in results for i in r["created"]],
        "regions": {r["region"]: r for r in results},
    }
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(f"seeded {args.endpoint_url} (account {account})")
        for r in results:
            print(f"  {r['region']}:")
            print(f"    vpc             {r['vpc_id']}")
            for s in r["subnets"]:
                print(f"    subnet          {s['id']}  {s['availability_zone']}  {s['name']}")
            print(f"    security group  {r['security_group_id']}  {SG_NAME}")
            for a in r["amis"]:
                print(f"    ami             {a['id']}  {a['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
