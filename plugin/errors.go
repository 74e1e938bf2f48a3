package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Exit codes of kubectl gsi, so scripts can tell what went wrong without parsing text.
// They are documented in docs/plugin.md; keep the two in step.
const (
	// ExitOK: the command did what was asked (doctor: every check passed).
	ExitOK = 0
	// ExitError: anything not covered below, such as an unreachable API server.
	ExitError = 1
	// ExitUsage: wrong arguments or flags.
	ExitUsage = 2
	// ExitNotFound: the named VirtualNetwork, TransitGateway or ConnectedPeer does not exist.
	ExitNotFound = 3
	// ExitRefused: the API server refused the change: an admission webhook or policy
	// denied it, the object is invalid, or RBAC forbids it.
	ExitRefused = 4
	// ExitTimeout: --wait ran out of --timeout before the state was reached.
	ExitTimeout = 5
	// ExitUnhealthy: doctor found a failing check, or an exposed route ended failed or
	// in conflict while waiting.
	ExitUnhealthy = 6
)

// exitError carries an exit code with the message shown to the user.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode attaches an exit code to err.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageError is a mistake on the command line.
func usageError(format string, args ...any) error {
	return withCode(ExitUsage, fmt.Errorf(format, args...))
}

// usageArgs makes a cobra argument check's error a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error { return withCode(ExitUsage, check(cmd, args)) }
}

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	switch {
	case strings.HasPrefix(err.Error(), "unknown command"):
		return ExitUsage
	case apierrors.IsNotFound(err):
		return ExitNotFound
	case apierrors.IsForbidden(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return ExitRefused
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	}
	return ExitError
}

// refusal returns the error with which the API server refused a write, keeping its
// message verbatim (an admission webhook's denial reason is the most useful thing the
// user can see), tagged with ExitRefused.
func refusal(what string, err error) error {
	if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
		return withCode(ExitRefused, fmt.Errorf("%s: refused by the API server: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}
