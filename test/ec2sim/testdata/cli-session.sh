#!/usr/bin/env bash
# One create → describe → delete sequence made with the AWS CLI (not aws-sdk-go-v2)
# against the simulator. Usage: cli-session.sh ENDPOINT [AWS_BINARY]
# It prints each command with its output; TestAWSCLI runs it and docs/aws.md shows it.
set -euo pipefail
EP=$1
AWS=${2:-aws}
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

aws() {
  local line="\$ aws --endpoint-url $EP" a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,@-]+$ ]]; then line+=" $a"; else line+=" '$a'"; fi
  done
  echo "$line" >&2
  "$AWS" --endpoint-url "$EP" "$@"
}
show() { aws "$@" | tee /dev/stderr; }

VPC=vpc-0a1b2c3d4e5f60001
TAGS='{Key=gsi.juniper.net/cluster,Value=demo},{Key=gsi.juniper.net/transit-gateway,Value=contrail-gsi/tgw1}'

TGW=$(show ec2 create-transit-gateway --description "gsi demo" \
  --options AmazonSideAsn=64512,TransitGatewayCidrBlocks=192.0.2.0/24 \
  --tag-specifications "ResourceType=transit-gateway,Tags=[$TAGS,{Key=gsi.juniper.net/role,Value=transit-gateway}]" \
  --query TransitGateway.TransitGatewayId --output text)
RTB=$(show ec2 describe-transit-gateways --filters Name=tag:gsi.juniper.net/cluster,Values=demo Name=state,Values=pending,available \
  --query 'TransitGateways[0].Options.AssociationDefaultRouteTableId' --output text)
show ec2 describe-transit-gateways --transit-gateway-ids "$TGW" --output json \
  --query 'TransitGateways[0].{Id:TransitGatewayId,State:State,Asn:Options.AmazonSideAsn,Cidrs:Options.TransitGatewayCidrBlocks,Tags:Tags}' >/dev/null

ATT=$(show ec2 create-transit-gateway-vpc-attachment --transit-gateway-id "$TGW" --vpc-id "$VPC" \
  --subnet-ids subnet-0a1b2c3d4e5f60001 subnet-0a1b2c3d4e5f60002 \
  --tag-specifications "ResourceType=transit-gateway-attachment,Tags=[$TAGS,{Key=gsi.juniper.net/role,Value=vpc-attachment}]" \
  --query TransitGatewayVpcAttachment.TransitGatewayAttachmentId --output text)
CON=$(show ec2 create-transit-gateway-connect --transport-transit-gateway-attachment-id "$ATT" --options Protocol=gre \
  --query TransitGatewayConnect.TransitGatewayAttachmentId --output text)
PEER=$(show ec2 create-transit-gateway-connect-peer --transit-gateway-attachment-id "$CON" \
  --peer-address 10.0.0.10 --inside-cidr-blocks 169.254.100.0/29 --bgp-options PeerAsn=64512 \
  --query TransitGatewayConnectPeer.TransitGatewayConnectPeerId --output text)
show ec2 describe-transit-gateway-connect-peers --transit-gateway-connect-peer-ids "$PEER" --output json \
  --query 'TransitGatewayConnectPeers[0].{State:State,Config:ConnectPeerConfiguration}' >/dev/null
echo "# (a rule of AWS: a reserved inside CIDR is refused)" >&2
if aws ec2 create-transit-gateway-connect-peer --transit-gateway-attachment-id "$CON" \
  --peer-address 10.0.0.11 --inside-cidr-blocks 169.254.169.248/29 2>&1 | tee /dev/stderr >/dev/null; then :; fi

SG=$(show ec2 create-security-group --group-name gsi-sg --description "gsi demo" --vpc-id "$VPC" --query GroupId --output text)
show ec2 authorize-security-group-ingress --group-id "$SG" --ip-permissions \
  'IpProtocol=47,IpRanges=[{CidrIp=192.0.2.0/24,Description=GRE}]' 'IpProtocol=tcp,FromPort=179,ToPort=179,IpRanges=[{CidrIp=169.254.100.0/29}]' \
  --query 'SecurityGroupRules[].[SecurityGroupRuleId,IpProtocol,FromPort,CidrIpv4]' --output text >/dev/null
show ec2 create-route --route-table-id rtb-0a1b2c3d4e5f60002 --destination-cidr-block 10.244.0.0/16 --transit-gateway-id "$TGW" >/dev/null
show ec2 describe-route-tables --route-table-ids rtb-0a1b2c3d4e5f60002 \
  --query 'RouteTables[0].Routes[].[DestinationCidrBlock,GatewayId||TransitGatewayId,State]' --output text >/dev/null
show ec2 search-transit-gateway-routes --transit-gateway-route-table-id "$RTB" --filters Name=type,Values=propagated \
  --query 'Routes[].[DestinationCidrBlock,Type,State,TransitGatewayAttachments[0].ResourceId]' --output text >/dev/null
show ec2 describe-tags --filters Name=key,Values=gsi.juniper.net/role --query 'Tags[].[ResourceType,ResourceId,Value]' --output text >/dev/null

echo "# teardown, in dependency order" >&2
show ec2 delete-route --route-table-id rtb-0a1b2c3d4e5f60002 --destination-cidr-block 10.244.0.0/16 >/dev/null
show ec2 delete-security-group --group-id "$SG" >/dev/null
show ec2 delete-transit-gateway-connect-peer --transit-gateway-connect-peer-id "$PEER" --query TransitGatewayConnectPeer.State --output text >/dev/null
show ec2 delete-transit-gateway-connect --transit-gateway-attachment-id "$CON" --query TransitGatewayConnect.State --output text >/dev/null
show ec2 delete-transit-gateway-vpc-attachment --transit-gateway-attachment-id "$ATT" --query TransitGatewayVpcAttachment.State --output text >/dev/null
show ec2 delete-transit-gateway --transit-gateway-id "$TGW" --query TransitGateway.State --output text >/dev/null
show ec2 describe-transit-gateways --transit-gateway-ids "$TGW" --query 'TransitGateways[0].State' --output text >/dev/null
show ec2 describe-tags --filters Name=key,Values=gsi.juniper.net/cluster --output json >/dev/null
