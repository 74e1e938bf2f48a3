package failure

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opengsi/gsi/controller/aws"
)

func TestClassify(t *testing.T) {
	apiErr := func(code string, kind error) error {
		return fmt.Errorf("creating transit gateway: %w", &aws.APIError{Operation: "CreateTransitGateway", Code: code, Message: "msg of " + code, Kind: kind})
	}
	cases := []struct {
		err       error
		reason    string
		permanent bool
	}{
		{apiErr("UnauthorizedOperation", aws.ErrUnauthorized), ReasonUnauthorized, true},
		{apiErr("InvalidParameterValue", aws.ErrInvalidParameter), ReasonInvalidParameter, true},
		{apiErr("TransitGatewayLimitExceeded", aws.ErrLimitExceeded), ReasonLimitExceeded, true},
		{apiErr("RequestLimitExceeded", aws.ErrThrottled), ReasonThrottled, false},
		{apiErr("IncorrectState", aws.ErrIncorrectState), ReasonAWSError, false},
		{apiErr("InvalidRouteTableID.NotFound", aws.ErrNotFound), ReasonNotFound, false},
		{errors.New("dial tcp: connection refused"), ReasonAWSError, false},
	}
	for _, c := range cases {
		if got := Reason(c.err); got != c.reason {
			t.Errorf("%v: reason %s, want %s", c.err, got, c.reason)
		}
		if got := Permanent(c.err); got != c.permanent {
			t.Errorf("%v: permanent %v, want %v", c.err, got, c.permanent)
		}
	}
	if msg := Message(apiErr("UnauthorizedOperation", aws.ErrUnauthorized)); !strings.Contains(msg, "msg of UnauthorizedOperation") || !strings.Contains(msg, "IRSA") {
		t.Fatalf("message %q", msg)
	}
}
