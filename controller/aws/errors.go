package aws

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"
)

// Kinds of failure the reconcilers act on. Errors returned by this package match them
// with errors.Is; the AWS code itself is available through *APIError (errors.As).
var (
	// ErrNotFound: any *.NotFound code (the id does not exist).
	ErrNotFound = errors.New("not found")
	// ErrThrottled: RequestLimitExceeded after the retryer gave up.
	ErrThrottled = errors.New("throttled")
	// ErrDependencyViolation: the resource still has dependents; delete them first.
	ErrDependencyViolation = errors.New("dependency violation")
	// ErrIncorrectState: the resource is not in a state that allows the call yet
	// (e.g. pending); requeue.
	ErrIncorrectState = errors.New("incorrect state")
	// ErrAlreadyExists: RouteAlreadyExists, InvalidPermission.Duplicate,
	// InvalidGroup.Duplicate, DuplicateTransitGatewayAttachment (a resource gsi does not
	// own is in the way).
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidParameter: the request is wrong (InvalidParameterValue, *.Malformed, …);
	// retrying does not help, the spec must change.
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrLimitExceeded: a quota (*LimitExceeded other than RequestLimitExceeded).
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrUnauthorized: the credentials lack permission (UnauthorizedOperation, AuthFailure).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrRouteConflict: a VPC route for the destination exists with another target.
	ErrRouteConflict = errors.New("route conflict")
)

// APIError is an error answered by EC2, classified into one of the kinds above.
type APIError struct {
	Operation string
	Code      string
	Message   string
	// Kind is one of the Err* sentinels, or nil for codes gsi has no action for.
	Kind error
	Err  error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("ec2 %s: %s: %s", e.Operation, e.Code, e.Message)
}

// Unwrap gives access to the SDK's error (smithy.APIError, request id, …).
func (e *APIError) Unwrap() error { return e.Err }

// Is matches the error's kind.
func (e *APIError) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// ErrorCode returns the AWS error code in err, or "" when err carries none.
func ErrorCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	var se smithy.APIError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	return ""
}

// classify maps an AWS error code to a kind.
func classify(code string) error {
	switch {
	case code == "RequestLimitExceeded" || code == "Throttling" || code == "EC2ThrottledException":
		return ErrThrottled
	case strings.HasSuffix(code, "NotFound"):
		return ErrNotFound
	case code == "DependencyViolation":
		return ErrDependencyViolation
	case code == "IncorrectState" || strings.HasPrefix(code, "IncorrectState"):
		return ErrIncorrectState
	case code == "RouteAlreadyExists" || strings.HasSuffix(code, ".Duplicate") || code == "DuplicateTransitGatewayAttachment":
		return ErrAlreadyExists
	case strings.HasSuffix(code, "LimitExceeded"):
		return ErrLimitExceeded
	case code == "UnauthorizedOperation" || code == "AuthFailure":
		return ErrUnauthorized
	case strings.HasPrefix(code, "InvalidParameter") || strings.HasSuffix(code, ".Malformed") ||
		code == "MissingParameter" || code == "InvalidID" || code == "DuplicateSubnetsInSameZone" || code == "VPCIdNotSpecified":
		return ErrInvalidParameter
	}
	return nil
}

// wrapErr turns an SDK error into an *APIError (when EC2 answered) with context.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var se smithy.APIError
	if errors.As(err, &se) {
		return &APIError{Operation: op, Code: se.ErrorCode(), Message: se.ErrorMessage(), Kind: classify(se.ErrorCode()), Err: err}
	}
	return fmt.Errorf("ec2 %s: %w", op, err)
}
