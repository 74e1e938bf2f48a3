// Package failure sorts the errors the reconcilers meet into what they do about them:
// retry soon (throttling, a resource still pending, a lost connection) or report in a
// condition and wait for the user (a refused parameter, a quota, missing permissions).
package failure

import (
	"errors"

	"github.com/opengsi/gsi/controller/aws"
)

// Condition reasons for AWS failures, shared by every object's conditions.
const (
	ReasonUnauthorized     = "AWSUnauthorized"
	ReasonInvalidParameter = "AWSInvalidParameter"
	ReasonLimitExceeded    = "AWSLimitExceeded"
	ReasonThrottled        = "AWSThrottled"
	ReasonAWSError         = "AWSError"
	ReasonNotFound         = "AWSNotFound"
	ReasonConflict         = "AWSConflict"
)

// Reason is the condition reason for err.
func Reason(err error) string {
	switch {
	case errors.Is(err, aws.ErrUnauthorized):
		return ReasonUnauthorized
	case errors.Is(err, aws.ErrInvalidParameter):
		return ReasonInvalidParameter
	case errors.Is(err, aws.ErrLimitExceeded):
		return ReasonLimitExceeded
	case errors.Is(err, aws.ErrThrottled):
		return ReasonThrottled
	case errors.Is(err, aws.ErrNotFound):
		return ReasonNotFound
	case errors.Is(err, aws.ErrAlreadyExists), errors.Is(err, aws.ErrRouteConflict):
		return ReasonConflict
	}
	return ReasonAWSError
}

// Permanent reports an error that retrying soon does not cure: the spec, the IAM role or
// a quota must change first. The reconcilers mark the object failed and retry slowly.
func Permanent(err error) bool {
	return errors.Is(err, aws.ErrUnauthorized) || errors.Is(err, aws.ErrInvalidParameter) ||
		errors.Is(err, aws.ErrLimitExceeded) || errors.Is(err, aws.ErrAlreadyExists) ||
		errors.Is(err, aws.ErrRouteConflict)
}

// Message is what a condition says about err: AWS's own code and message when AWS
// answered, the error text otherwise, with a hint for missing permissions.
func Message(err error) string {
	msg := err.Error()
	if errors.Is(err, aws.ErrUnauthorized) {
		msg += " (check the IAM role of the controller's service account: IRSA annotation and policy)"
	}
	if len(msg) > 1024 {
		msg = msg[:1021] + "..."
	}
	return msg
}
