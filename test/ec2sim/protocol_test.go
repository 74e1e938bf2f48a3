package ec2sim_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opengsi/gsi/test/ec2sim"
)

type errorBody struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}

// TestProtocol checks the wire format with plain HTTP: the parts the SDK validates on
// its side (required parameters) are still enforced by the server for other clients.
func TestProtocol(t *testing.T) {
	srv := ec2sim.StartForTest(t, ec2sim.Options{})
	const signed = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"
	cases := []struct {
		name   string
		method string
		form   url.Values
		auth   string
		status int
		code   string
		// contains is a fragment of a successful body.
		contains string
	}{
		{"unsigned", "POST", url.Values{"Action": {"DescribeVpcs"}, "Version": {"2016-11-15"}}, "", 401, "AuthFailure", ""},
		{"unknown action", "POST", url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}}, signed, 400, "InvalidAction", ""},
		{"no version", "POST", url.Values{"Action": {"DescribeVpcs"}}, signed, 400, "MissingParameter", ""},
		{"peer without address", "POST", url.Values{"Action": {"CreateTransitGatewayConnectPeer"}, "Version": {"2016-11-15"}, "TransitGatewayAttachmentId": {"tgw-attach-01"}}, signed, 400, "MissingParameter", ""},
		{"search without filters", "POST", url.Values{"Action": {"SearchTransitGatewayRoutes"}, "Version": {"2016-11-15"}, "TransitGatewayRouteTableId": {"tgw-rtb-01"}}, signed, 400, "MissingParameter", ""},
		{"sg without description", "POST", url.Values{"Action": {"CreateSecurityGroup"}, "Version": {"2016-11-15"}, "GroupName": {"x"}, "VpcId": {"vpc-0a1b2c3d4e5f60001"}}, signed, 400, "MissingParameter", ""},
		{"get with query", "GET", url.Values{"Action": {"DescribeVpcs"}, "Version": {"2016-11-15"}, "Filter.1.Name": {"cidr"}, "Filter.1.Value.1": {"10.1.0.0/16"}}, signed, 200, "", "<vpcId>vpc-0a1b2c3d4e5f60001</vpcId>"},
		{"legacy ingress form", "POST", url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "Version": {"2016-11-15"}, "GroupId": {"sg-0000000000000dead"}, "IpProtocol": {"tcp"}, "FromPort": {"1"}, "ToPort": {"2"}, "CidrIp": {"10.0.0.0/8"}}, signed, 400, "InvalidGroup.NotFound", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var req *http.Request
			var err error
			if tc.method == "GET" {
				req, err = http.NewRequest("GET", srv.URL()+"/?"+tc.form.Encode(), nil)
			} else {
				req, err = http.NewRequest("POST", srv.URL()+"/", strings.NewReader(tc.form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, body)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
				t.Fatalf("headers: %v", resp.Header)
			}
			if tc.code == "" {
				if !strings.Contains(string(body), tc.contains) || !strings.Contains(string(body), "<requestId>") {
					t.Fatalf("body: %s", body)
				}
				return
			}
			var eb errorBody
			if err := xml.Unmarshal(body, &eb); err != nil {
				t.Fatalf("error body %s: %v", body, err)
			}
			if eb.Code != tc.code || eb.Message == "" || eb.RequestID != resp.Header.Get("x-amzn-RequestId") {
				t.Fatalf("error body: %+v", eb)
			}
		})
	}
}
